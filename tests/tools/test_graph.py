"""`gp-celery graph`'s DOT text: every node, filter and stage drawn, user text escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gp_celery.config import load_config, parse_config
from gp_celery.tools.graph import DotMissingError, output_format, quote, render, to_dot

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "conf").glob("*.yml"))
CONFIGS = [path for path in CONFIGS if not path.name.endswith(".test.yml")]
CONFIGS.append(ROOT / "tests/config/lumbermill-readme.yml")  # LumberMill's README example

HOSTILE_ID = 'a"b\\n<script>alert(1)</script>&amp;]; n0 -> n1 ['


def svg_texts(svg: bytes) -> str:
    """All text the SVG shows, entities decoded: what a reader sees."""
    root = ET.fromstring(svg)
    return "\n".join(text for text in root.itertext())


def test_quote_escapes_backslashes_quotes_entities_and_control_characters() -> None:
    assert quote('say "hi"') == '"say \\"hi\\""'
    assert quote("a\\nb") == '"a\\\\nb"'
    assert quote("two\nlines") == '"two\\nlines"'
    assert quote("bell\x07") == '"bell\\\\x07"'
    assert quote("&amp;") == '"&amp;amp;"'


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_every_example_config_and_the_seed_readmes_render_to_svg_with_every_node_id(
    path: Path,
) -> None:
    config = load_config(path, {"GP_OUT_DIR": "/tmp/gp-celery-graph-test"})
    shown = svg_texts(render(to_dot(config), "svg"))
    assert [node.id for node in config.nodes if node.id not in shown] == []


def test_output_filters_label_their_arrows() -> None:
    config = load_config(ROOT / "conf/tcp-to-file.yml")
    shown = svg_texts(render(to_dot(config), "svg"))
    assert "$(gambolputty.event_type) != 'Unknown'" in shown
    assert "$(gambolputty.event_type) == 'Unknown'" in shown


def test_each_queue_is_a_stage_cluster_and_a_node_fed_by_two_stages_says_so() -> None:
    config = parse_config(
        "- StdIn\n"
        "- RegexParser: {field_extraction_patterns: [{a: x}], receivers: [Heavy, Both]}\n"
        "- AddDateTime: {id: Heavy, queue: slow, receivers: [Both]}\n"
        "- StdOutSink: {id: Both}\n"
    )
    dot = to_dot(config)
    assert dot.count("subgraph cluster_") == 2
    shown = svg_texts(render(dot, "svg"))
    assert f"stage slow (digest {config.digests['slow'][:12]})" in shown
    assert f"stage gp-celery (digest {config.digests['gp-celery'][:12]})" in shown
    assert "stages: gp-celery, slow" in shown


def test_hostile_node_ids_and_filters_are_shown_as_written_and_cannot_inject() -> None:
    config = parse_config(
        "- StdIn\n"
        f"- RegexParser:\n    id: '{HOSTILE_ID.replace(chr(39), chr(39) * 2)}'\n"
        "    field_extraction_patterns: [{a: x}]\n"
        "    receivers: [{StdOutSink: {filter: '$(x) == \"<b>\\\\\"'}}]\n"
        "- StdOutSink\n"
    )
    svg = render(to_dot(config), "svg")
    shown = svg_texts(svg)  # parses: no markup got in
    assert HOSTILE_ID in shown
    assert '$(x) == "<b>\\\\"' in shown
    assert b"<script>" not in svg
    edges = [line for line in to_dot(config).splitlines() if re.match(r"\s+n\d+ -> ", line)]
    assert [edge.split(" [")[0].strip(" ;") for edge in edges] == ["n0 -> n1", "n1 -> n2"]


def test_planned_modules_are_drawn_dashed() -> None:
    config = parse_config("- StdIn\n- ZabbixSink\n")
    planned = next(line for line in to_dot(config).splitlines() if '"ZabbixSink\\n' in line)
    assert 'style="dashed,filled' in planned
    assert "(not built yet)" in planned


def test_dot_text_needs_no_graphviz_and_other_formats_say_it_is_missing() -> None:
    config = parse_config("- StdIn\n- StdOutSink\n")
    assert render(to_dot(config), "dot", which=lambda _: None).startswith(b"digraph pipeline {")
    with pytest.raises(DotMissingError, match="apt-get install graphviz"):
        render(to_dot(config), "svg", which=lambda _: None)


def test_png_is_a_png() -> None:
    config = parse_config("- StdIn\n- StdOutSink\n")
    assert render(to_dot(config), "png").startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("output", "given", "expected"),
    [
        ("p.svg", None, "svg"),
        ("p.PNG", None, "png"),
        ("p.gv", None, "dot"),
        (None, None, "dot"),
        ("p.svg", "png", "png"),
        ("-", None, "dot"),
    ],
)
def test_format_comes_from_the_flag_then_the_extension(
    output: str | None, given: str | None, expected: str
) -> None:
    assert output_format(output, given) == expected


def test_unknown_extension_without_format_is_refused() -> None:
    with pytest.raises(ValueError, match="pass --format"):
        output_format("pipeline.jpeg", None)
