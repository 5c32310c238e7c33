"""Module names and node ids as GambolPutty and LumberMill configs write them (issue 7)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gp_celery.config import ConfigError, PipelineConfig, parse_config
from gp_celery.modules.planned import INSTEAD, PLANNED, planned_name, planned_note

HERE = Path(__file__).resolve().parent
GP = str(Path(sys.executable).parent / "gp-celery")


def parse(text: str) -> PipelineConfig:
    return parse_config(textwrap.dedent(text).lstrip("\n"), "p.yml", {})


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return [str(problem) for problem in caught.value.problems]


def targets(config: PipelineConfig, node_id: str) -> list[str]:
    return [receiver.target for receiver in config.node(node_id).receivers or []]


def test_lumbermill_readme_example_is_valid_apart_from_modules_not_built_yet() -> None:
    config = parse_config((HERE / "lumbermill-readme.yml").read_text(), "readme.yml", {})
    assert [node.id for node in config.nodes][:6] == [
        "input.Tcp",
        "input.Tcp_1",
        "parser.MsgPack",
        "parser.RegexParser",
        "misc.SimpleStats",
        "parser.SyslogPrival",
    ]
    assert targets(config, "input.Tcp") == ["parser.RegexParser"]  # written 'RegexParser'
    assert targets(config, "parser.RegexParser") == ["misc.SimpleStats", "output.StdOut"]
    assert config.node("parser.RegexParser").type_name == "RegexParser"
    assert config.planned == []  # output.ElasticSearch is ElasticSearchSink, built


def test_lumbermill_readme_example_passes_check() -> None:
    result = subprocess.run(
        [GP, "check", "-c", str(HERE / "lumbermill-readme.yml")],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert b"OK: 15 modules" in result.stdout


def test_lumbermill_output_filters_route_by_the_gambolputty_metadata() -> None:
    config = parse_config((HERE / "lumbermill-readme.yml").read_text(), "readme.yml", {})
    stats, stdout = config.node("parser.RegexParser").receivers or []
    assert stats.filter is not None
    assert stdout.filter is not None
    matched = {"gambolputty": {"event_type": "httpd_access_log"}}
    unmatched = {"gambolputty": {"event_type": "Unknown"}}
    assert (stats.filter(matched), stdout.filter(matched)) == (True, False)
    assert (stats.filter(unmatched), stdout.filter(unmatched)) == (False, True)


def test_receiver_finds_a_node_by_its_name_as_written_or_its_canonical_name() -> None:
    config = parse("""
        - input.StdIn:
            receivers: [misc.SimpleStats, StdOutSink]
        - misc.SimpleStats:
            receivers: [output.StdOut]
        - output.StdOut
        """)
    assert targets(config, "input.StdIn") == ["misc.SimpleStats", "output.StdOut"]
    assert targets(config, "misc.SimpleStats") == ["output.StdOut"]


def test_receiver_by_alias_of_a_repeated_module_keeps_the_counter() -> None:
    config = parse("""
        - StdIn:
            receivers: [modifier.DropEvent_1]
        - DropEvent:
            filter: $(x) == 1
        - DropEvent
        - DevNullSink
        """)
    assert targets(config, "StdIn") == ["DropEvent_1"]


def test_receiver_name_shared_by_two_implicit_nodes_is_ambiguous() -> None:
    found = problems("""
        - StdIn:
            receivers: [StdOutSink]
        - output.StdOut
        - output.StdOutSink:
            pretty_print: true
        """)
    assert found == [
        "p.yml:2: StdIn: receivers: receiver 'StdOutSink' could be any of 'output.StdOut', "
        "'output.StdOutSink'; use the id"
    ]


def test_a_repeated_name_means_the_first_as_in_gambolputty() -> None:
    config = parse("""
        - StdIn:
            receivers: [StdOutSink, output.StdOut_1]
        - output.StdOut
        - output.StdOut
        """)
    assert targets(config, "StdIn") == ["output.StdOut", "output.StdOut_1"]


def test_id_wins_over_another_nodes_alias_and_explicit_ids_hide_aliases() -> None:
    config = parse("""
        - StdIn:
            receivers: [StdOutSink, DevNullSink]
        - output.StdOut
        - DropEvent:
            id: StdOutSink
        - DevNullSink
        """)
    assert targets(config, "StdIn") == ["StdOutSink", "DevNullSink"]
    assert config.node("StdOutSink").type_name == "DropEvent"
    found = problems("""
        - StdIn:
            receivers: [DevNullSink]
        - DevNullSink:
            id: sink
        """)
    assert found == [
        "p.yml:2: StdIn: receivers: unknown receiver 'DevNullSink' "
        "(the DevNullSink on line 3 has the id 'sink')"
    ]


def test_empty_id_means_no_id() -> None:
    config = parse("""
        - StdIn:
            id: ''
            receivers: [output.StdOut]
        - output.StdOut:
            id: ''
        """)
    assert [node.id for node in config.nodes] == ["StdIn", "output.StdOut"]
    assert [node.explicit_id for node in config.nodes] == [None, None]


@pytest.mark.parametrize(
    ("written", "options", "canonical"),
    [
        ("parser.RegexParser", "{field_extraction_patterns: [{a: x}]}", "RegexParser"),  # README
        ("parser.Regex", "{field_extraction_patterns: [{a: x}]}", "RegexParser"),
        ("output.StdOutSink", "{pretty_print: true}", "StdOutSink"),
        ("misc.SimpleStats", "{interval: 10}", "SimpleStats"),
        ("SimpleStatsWithZmq", "{interval: 10}", "SimpleStats"),
        ("misc.SimpleStatsWithZmq", "{emit_as_event: true}", "SimpleStats"),
        ("modifier.ModifyFields", "{action: keep, source_fields: [a]}", "ModifyFields"),
    ],
)
def test_lumbermill_directory_prefix_works_with_any_name_of_the_module(
    written: str, options: str, canonical: str
) -> None:
    config = parse(f"- StdIn\n- {written}: {options}\n- DevNullSink\n")
    node = config.nodes[1]
    assert (node.id, node.type_name) == (written, canonical)


def test_lumbermill_directory_must_be_the_modules_family() -> None:
    found = problems("""
        - StdIn
        - parser.AddDateTime
        - DevNullSink
        """)
    assert found == [
        "p.yml:2: parser.AddDateTime: unknown module 'parser.AddDateTime': AddDateTime is a "
        "modifier (did you mean 'modifier.AddDateTime'?)"
    ]


@pytest.mark.parametrize(
    ("name", "yaml_name", "family"),
    [
        ("Beats", "Beats", "input"),
        ("BeatsServer", "Beats", "input"),
        ("input.Beats", "Beats", "input"),
        ("MongoDbSink", "MongoDbSink", "sink"),
        ("output.MongoDb", "MongoDbSink", "sink"),
        ("ZabbixSink", "ZabbixSink", "sink"),
        ("output.Zabbix", "ZabbixSink", "sink"),
        ("BeatsSink", "BeatsSink", "sink"),
        ("output.Beats", "BeatsSink", "sink"),
    ],
)
def test_modules_the_original_shipped_are_known_as_not_built_yet(
    name: str, yaml_name: str, family: str
) -> None:
    assert planned_name(name) == yaml_name
    assert PLANNED[yaml_name][0] == family
    if family == "input":
        config = parse(f"- {name}:\n    receivers: [DevNullSink]\n- DevNullSink\n")
    else:
        config = parse(f"- StdIn\n- {name}\n" + ("- DevNullSink\n" if family != "sink" else ""))
    assert [node.type_name for node in config.planned] == [yaml_name]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("MongoDbSink", "mongoimport"),
        ("output.Zabbix", "zabbix_sender"),
        ("output.Beats", "RedisListSink"),
        ("Beats", "Lumberjack v2"),
        ("input.Beats", "RedisList"),
    ],
)
def test_modules_no_issue_builds_say_what_to_use_instead(name: str, words: str) -> None:
    note = planned_note(name)
    assert note is not None
    assert words in note


@pytest.mark.parametrize("name", ["File", "SQSSink", "Cache", "Noop"])
def test_modules_a_later_issue_builds_have_no_instead_note(name: str) -> None:
    assert planned_note(name) is None


def test_every_instead_note_belongs_to_a_planned_module_and_is_one_sentence() -> None:
    assert set(INSTEAD) <= set(PLANNED)
    for note in INSTEAD.values():
        assert note.endswith(".")
        assert note.count(". ") == 0
    assert planned_note("RegexParser") is None
    assert planned_note("NoSuchThing") is None
