"""Configuration: every error kind is reported with its line, all at once, sorted."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gp_celery.config import ConfigError, PipelineConfig, parse_config

ROOT = Path(__file__).resolve().parent.parent


def parse(text: str, environ: dict[str, str] | None = None) -> PipelineConfig:
    return parse_config(textwrap.dedent(text).lstrip("\n"), "p.yml", environ or {})


def problems(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text, environ)
    return [str(problem) for problem in caught.value.problems]


def test_seed_stdin_example_is_valid_and_wired_in_file_order() -> None:
    config = parse_config((ROOT / "conf/example-stdin.yml").read_text(), "x.yml", {})
    assert [node.id for node in config.order] == ["StdIn", "RegexParser", "StdOutSink"]
    assert [r.target for r in config.node("StdIn").receivers or []] == ["RegexParser"]
    assert config.node("StdOutSink").receivers == []


@pytest.mark.parametrize(
    "name", ["example-stdin.yml", "example-tcp.yml", "example-full.yml", "tcp-to-file.yml"]
)
def test_every_shipped_config_is_valid(name: str) -> None:
    parse_config((ROOT / "conf" / name).read_text(), name, {})


def test_full_example_wiring_matches_the_spec() -> None:
    config = parse_config((ROOT / "conf/example-full.yml").read_text(), "x.yml", {})
    ids = [node.id for node in config.nodes]
    assert ids[:2] == ["TcpServer", "TcpServer_1"]
    assert "ModifyFields_1" in ids
    regex = config.node("RegexParser")
    assert [r.target for r in regex.receivers or []] == ["SimpleStats", "StdOutSink"]
    assert all(r.filter is not None for r in regex.receivers or [])
    assert [r.target for r in config.node("TcpServer").receivers or []] == ["RegexParser"]
    assert [r.target for r in config.node("TcpServer_1").receivers or []] == ["MsgPackParser"]
    assert config.planned == []  # every module of the full example is built


def test_unknown_module_names_line_and_suggestion() -> None:
    found = problems("""
        - StdIn
        - RegexPraser:
            field_extraction_patterns: []
        """)
    assert found == [
        "p.yml:2: RegexPraser: unknown module 'RegexPraser' (did you mean 'RegexParser'?)"
    ]


def test_misspelled_option_is_reported_with_suggestion_and_line() -> None:
    found = problems("""
        - StdIn
        - RegexParser:
            id: access
            hot_rule_first: true
            field_extraction_patterns:
             - web: 'x'
        """)
    assert found == [
        "p.yml:4: RegexParser 'access': hot_rule_first: unknown option "
        "'hot_rule_first' (did you mean 'hot_rules_first'?)"
    ]


def test_wrong_type_names_option_and_value() -> None:
    found = problems("""
        - StdIn
        - StdOutSink:
            pretty_print: [1, 2]
        """)
    assert len(found) == 1
    assert found[0].startswith("p.yml:3: StdOutSink: pretty_print: ")
    assert "[1, 2]" in found[0]


def test_bad_regex_keeps_the_re_error_detail() -> None:
    found = problems("""
        - StdIn
        - RegexParser:
            field_extraction_patterns:
             - web: '(?P<code>\\d{3}'
        """)
    assert len(found) == 1
    assert found[0].startswith("p.yml:")
    assert "missing ), unterminated subpattern" in found[0]


def test_bad_filter_names_the_column() -> None:
    found = problems("""
        - StdIn:
            filter: $(a) == 'x' and __import__('os')
        - DevNullSink
        """)
    assert len(found) == 1
    assert found[0].startswith("p.yml:2: StdIn: filter: bad filter: column ")


def test_bad_template_is_reported() -> None:
    found = problems("""
        - StdIn:
            add_fields: {copy: '$(unclosed'}
        - DevNullSink
        """)
    assert len(found) == 1
    assert found[0].startswith("p.yml:2: StdIn: add_fields: bad template")


def test_unknown_receiver_with_suggestion() -> None:
    found = problems("""
        - StdIn:
            receivers: [StdOutSnk]
        - StdOutSink
        """)
    assert found == [
        "p.yml:2: StdIn: receivers: unknown receiver 'StdOutSnk' (did you mean 'StdOutSink'?)"
    ]


def test_cycle_is_reported() -> None:
    found = problems("""
        - StdIn
        - DropEvent:
            id: a
            receivers: [b]
        - DropEvent:
            id: b
            receivers: [a]
        """)
    assert len(found) == 1
    assert "receivers form a cycle" in found[0]
    assert found[0].startswith("p.yml:2: DropEvent 'a'")


def test_receivers_on_a_sink_are_an_error() -> None:
    found = problems("""
        - StdIn
        - StdOutSink:
            receivers: [DevNullSink]
        - DevNullSink
        """)
    assert found == [
        "p.yml:3: StdOutSink: receivers: a sink stores events and cannot have receivers"
    ]


def test_duplicate_id_names_the_first_use() -> None:
    found = problems("""
        - StdIn:
            id: in
        - DevNullSink:
            id: in
        """)
    assert found == ["p.yml:3: DevNullSink 'in': id: duplicate id 'in' (first used on line 1)"]


def test_invalid_yaml_reports_its_line() -> None:
    found = problems("""
        - StdIn
        - StdOutSink:
            pretty_print: [unclosed
        """)
    assert found == [
        "p.yml:3: invalid YAML: the '[' at column 19 is never closed "
        "(line 4: expected ',' or ']', but got '<stream end>')"
    ]


def test_every_problem_is_reported_at_once_and_sorted() -> None:
    found = problems("""
        - StdIn:
            bogus: 1
        - RegexParser:
            field_extraction_patterns: [{a: '('}]
        - StdOutSink:
            receivers: [x]
        """)
    assert len(found) == 3
    assert [int(line.split(":")[1]) for line in found] == sorted(
        int(line.split(":")[1]) for line in found
    )


def test_env_vars_are_expanded_with_defaults() -> None:
    config = parse(
        """
        - TcpServer:
            port: ${PORT}
            interface: ${IFACE:-127.0.0.1}
        - DevNullSink
        """,
        {"PORT": "6000"},
    )
    options = config.node("TcpServer").options
    assert options is not None
    assert options.port == 6000  # type: ignore[attr-defined]
    assert options.interface == "127.0.0.1"  # type: ignore[attr-defined]


def test_unset_env_var_without_default_is_an_error() -> None:
    found = problems("""
        - TcpServer:
            port: ${NOPE}
        - DevNullSink
        """)
    assert "p.yml:2: environment variable 'NOPE' is not set and has no default" in found


def test_lumbermill_names_are_aliases() -> None:
    config = parse("""
        - Global:
           workers: 1
           logging:
            level: warn
            filename: False
        - input.StdIn:
           multiline: False
        - parser.Regex:
           field_extraction_patterns:
            - x: '(?P<michael>[^ ]*) a (?P<profession>[^ ]*)'
        - output.StdOut:
            pretty_print: True
        """)
    assert [node.type_name for node in config.nodes] == ["StdIn", "RegexParser", "StdOutSink"]
    assert config.settings.logging.level == "warn"


def test_unknown_global_option_is_an_error() -> None:
    found = problems("""
        - Global:
            worker: 4
        - StdIn
        - DevNullSink
        """)
    assert found == ["p.yml:2: Global: worker: unknown option 'worker' (did you mean 'workers'?)"]


def test_top_level_must_be_a_list() -> None:
    assert problems("StdIn: {}\n") == [
        "p.yml:1: expected a list of modules (- ModuleName: {options}), got dict"
    ]


def test_implicit_ids_do_not_truncate_at_underscore() -> None:
    config = parse("""
        - StdIn
        - DropEvent:
            filter: $(x) == 1
        - DropEvent
        - DevNullSink
        """)
    assert [node.id for node in config.nodes] == [
        "StdIn",
        "DropEvent",
        "DropEvent_1",
        "DevNullSink",
    ]


def test_next_entry_being_an_input_is_an_error() -> None:
    found = problems("""
        - StdIn
        - Spam
        """)
    assert found == [
        "p.yml:1: StdIn: receivers: the next entry, input 'Spam', cannot receive "
        "events; set 'receivers'"
    ]


def test_digest_changes_with_what_workers_run_not_with_input_options() -> None:
    one = parse("- StdIn\n- DevNullSink\n")
    assert one.digest == parse("- StdIn\n- DevNullSink\n").digest
    assert one.digest != parse("- StdIn\n- StdOutSink\n").digest
    assert one.digest != parse("- StdIn\n- DevNullSink:\n    id: other\n").digest
    # An input's own options never reach a worker (its chunks carry their framing).
    assert one.digest == parse("- StdIn:\n    multiline: true\n- DevNullSink\n").digest


def test_digest_is_of_the_config_as_written_not_of_environment_values() -> None:
    text = "- TcpServer:\n    port: ${PORT}\n- StdOutSink:\n    format: '${FMT}'\n"
    one = parse_config(text, "p.yml", {"PORT": "1", "FMT": "a"})
    two = parse_config(text, "p.yml", {"PORT": "2", "FMT": "b"})
    assert one.digest == two.digest
    assert (
        one.digest
        != parse_config(text.replace("FMT", "OTHER"), "p.yml", {"PORT": "1", "OTHER": "a"}).digest
    )


def test_each_stage_has_its_own_digest_and_nodes_know_their_stages() -> None:
    config = parse(
        "- StdIn\n- JsonParser\n- DropEvent:\n    queue: late\n    filter: $(x)\n- DevNullSink\n"
    )
    assert config.stages == {
        "StdIn": ("gp-celery",),
        "JsonParser": ("gp-celery",),
        "DropEvent": ("late",),
        "DevNullSink": ("late",),
    }
    assert set(config.digests) == {"gp-celery", "late"}
    changed = parse(
        "- StdIn\n- JsonParser\n- DropEvent:\n    queue: late\n    filter: $(y)\n- DevNullSink\n"
    )
    assert changed.digests["gp-celery"] == config.digests["gp-celery"]
    assert changed.digests["late"] != config.digests["late"]


def test_a_receiver_map_without_a_filter_is_a_plain_receiver() -> None:
    config = parse(
        "- StdIn\n- JsonParser:\n    receivers:\n     - StdOutSink: {}\n     - DevNullSink:\n"
        "- StdOutSink\n- DevNullSink\n"
    )
    receivers = config.node("JsonParser").receivers or []
    assert [(r.target, r.filter) for r in receivers] == [
        ("StdOutSink", None),
        ("DevNullSink", None),
    ]
