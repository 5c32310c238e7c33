"""The node keys (CORE 1.3) as one model: typed add_fields, log_level, legacy keys, typos."""

from __future__ import annotations

import textwrap

import pytest

from gp_celery.config import ConfigError, PipelineConfig, parse_config
from gp_celery.config.global_options import LEVELS
from gp_celery.testing import pipeline, run


def parse(text: str) -> PipelineConfig:
    return parse_config(textwrap.dedent(text).lstrip("\n"), "p.yml", {})


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return [str(problem) for problem in caught.value.problems]


TYPED = """
    - StdIn:
        add_fields:
          Spam: True
          count: 5
          ratio: 0.5
          nothing: null
          tags: [a, '$(data)']
          nested: {eggs: [1, 2], who: '$(data)'}
          copy: '$(data)'
          text: 'n=$(data)'
          '$(data)_key': yes
    - DevNullSink
    """


def test_add_fields_values_keep_their_yaml_types_and_only_strings_are_templates() -> None:
    (out,) = run(pipeline(parse(TYPED)), [{"data": "v"}])
    assert out["Spam"] is True
    assert out["count"] == 5
    assert out["ratio"] == 0.5
    assert "nothing" in out
    assert out["nothing"] is None
    assert out["tags"] == ["a", "v"]
    assert out["nested"] == {"eggs": [1, 2], "who": "v"}
    assert out["copy"] == "v"
    assert out["text"] == "n=v"
    assert out["v_key"] is True


def test_add_fields_lists_are_not_shared_between_events() -> None:
    first, second = run(pipeline(parse(TYPED)), [{"data": "a"}, {"data": "b"}])
    first["tags"].append("changed")
    assert second["tags"] == ["a", "b"]


def test_add_fields_with_a_missing_lone_reference_adds_nothing() -> None:
    config = parse("""
        - StdIn:
            add_fields: {copy: '$(gone)', flag: false}
        - DevNullSink
        """)
    (out,) = run(pipeline(config), [{"data": "v"}])
    assert "copy" not in out
    assert out["flag"] is False


@pytest.mark.parametrize(("written", "stored"), [("WARN", "warn"), ("Debug", "debug")])
def test_log_level_is_validated_and_stored_normalised(written: str, stored: str) -> None:
    config = parse(f"- StdIn:\n    log_level: {written}\n- DevNullSink\n")
    assert config.nodes[0].log_level == stored
    assert stored in LEVELS
    assert config.nodes[1].log_level is None


def test_unknown_log_level_is_an_error_at_its_line() -> None:
    found = problems("""
        - StdIn
        - DevNullSink:
            id: sink
            log_level: loud
        """)
    assert found == [
        "p.yml:4: DevNullSink 'sink': log_level: unknown level 'loud'; use one of critical, "
        "debug, error, fatal, info, warn, warning"
    ]


def test_legacy_keys_are_accepted_and_ignored() -> None:
    config = parse("""
        - StdIn:
            module: StdIn
            queue_size: 20
            pool_size: 2
            queue_buffer_size: 250
            mp_queue_buffer_size: 50
            redis_store: cache
            redis_key: $(data)
            redis_ttl: 60
            set_internal: {key: a, value: b}
        - DevNullSink
        """)
    assert config.nodes[0].options is not None


@pytest.mark.parametrize(
    ("key", "typo"),
    [("receivers", "recievers"), ("add_fields", "add_field"), ("delete_fields", "delete_field")],
)
def test_misspelled_node_key_suggests_the_key(key: str, typo: str) -> None:
    found = problems(f"- StdIn:\n    {typo}: [x]\n- DevNullSink\n")
    assert found == [f"p.yml:2: StdIn: {typo}: unknown option '{typo}' (did you mean '{key}'?)"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("id: 5", "p.yml:2: StdIn: id: Input should be a valid string, got 5"),
        ("add_fields: [a, b]", "p.yml:2: StdIn: add_fields: Input should be a valid dictionary, "
         "got ['a', 'b']"),
        ("delete_fields: {a: 1}", "p.yml:2: StdIn: delete_fields: Input should be a valid list, "
         "got {'a': 1}"),
        ("event_type: [x]", "p.yml:2: StdIn: event_type: expected a string template, got list"),
        ("filter: [x]", "p.yml:2: StdIn: filter: expected a filter expression, got list"),
        ("receivers: DevNullSink", "p.yml:2: StdIn: receivers: Input should be a valid list, "
         "got 'DevNullSink'"),
        ("queue: ''", "p.yml:2: StdIn: queue: String should have at least 1 character, got ''"),
    ],
)  # fmt: skip
def test_wrong_node_key_types_are_located_errors(entry: str, expected: str) -> None:
    assert problems(f"- StdIn:\n    {entry}\n- DevNullSink\n") == [expected]


def test_one_bad_node_key_does_not_cause_follow_up_problems() -> None:
    found = problems("""
        - StdIn:
            receivers: [DevNullSink, 5]
        - Spam
        - DevNullSink
        """)
    assert found == ["p.yml:2: StdIn: receivers: expected a name or {name: {filter: ...}}, got 5"]


def test_receivers_without_filter_accept_empty_maps() -> None:
    config = parse("""
        - StdIn:
            receivers:
             - DevNullSink:
             - StdOutSink: {}
        - DevNullSink
        - StdOutSink
        """)
    receivers = config.nodes[0].receivers or []
    assert [(r.target, r.filter) for r in receivers] == [
        ("DevNullSink", None),
        ("StdOutSink", None),
    ]
    assert [r.line for r in receivers] == [3, 4]


def test_node_keys_parse_without_problems_in_a_planned_module() -> None:
    config = parse("""
        - Beats:
            filter: if %(remote_ip)
            add_fields: {geo: true}
            receivers: [DevNullSink]
            unchecked_option: 1
        - DevNullSink
        """)
    (node,) = config.planned
    assert node.filter is not None
    assert [value.value({}) for _key, value in node.add_fields] == [True]
