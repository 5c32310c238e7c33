"""`gp-celery modules NAME`: found in any case, and a wrong name gets a suggestion."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.e2e.conftest import gp


@pytest.mark.parametrize(
    ("typed", "page"),
    [
        ("regexparser", "RegexParser (parser)"),
        ("MODIFYFIELDS", "ModifyFields (modifier)"),
        ("parser.regex", "RegexParser (parser)"),
        ("OUTPUT.STDOUT", "StdOutSink (sink)"),
        ("elasticsearchsink", "ElasticSearchSink (sink)"),
        ("output.elasticsearch", "ElasticSearchSink (sink)"),
        ("tarpit", "Tarpit (misc)"),
        ("output.zabbix", "ZabbixSink (sink) - NOT BUILT YET"),
    ],
)
def test_module_name_is_found_in_any_case(typed: str, page: str) -> None:
    result = gp("modules", typed)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().splitlines()[0] == page


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("RegexParsr", "(did you mean 'RegexParser'?)"),
        ("stdoutsnk", "(did you mean 'StdOutSink'?)"),
        ("ModifyField", "(did you mean 'ModifyFields'?)"),
        ("geo", "(did you mean 'AddGeoInfo'?)"),
    ],
)
def test_unknown_module_suggests_the_closest_and_exits_1(typed: str, suggested: str) -> None:
    result = gp("modules", typed)
    assert result.returncode == 1
    assert result.stdout == b""
    message = result.stderr.decode()
    assert message.startswith(f"gp-celery: no module named '{typed}' {suggested}")
    assert "Traceback" not in message


def test_unknown_module_without_a_close_name_exits_1_without_a_guess() -> None:
    result = gp("modules", "Xyzzy")
    assert result.returncode == 1
    assert "did you mean" not in result.stderr.decode()


def _pasted_examples(page: str) -> list[str]:
    """The YAML entries of a page's examples, as a user copies them (indent removed)."""
    blocks: list[list[str]] = []
    for line in page.splitlines():
        if line.startswith("Example"):
            blocks.append([])
        elif blocks and line.startswith("  ") and not line.startswith("  #"):
            blocks[-1].append(line[2:])
    return ["\n".join(block) for block in blocks]


def test_example_pasted_from_a_page_into_a_config_runs_as_the_page_says(tmp_path: Path) -> None:
    page = gp("modules", "RegexParser").stdout.decode()
    assert '\n  # given:    {"data": "10.0.0.1 512"}\n' in page
    grok = next(entry for entry in _pasted_examples(page) if "%{IP:client}" in entry)
    config = tmp_path / "pasted.yml"
    config.write_text(f"- StdIn\n{grok}\n- StdOutSink:\n    json_lines: true\n")
    result = gp("run", "-c", str(config), stdin=b"10.0.0.1 512\n")
    assert result.returncode == 0, result.stderr.decode()
    event = orjson.loads(result.stdout)
    assert (event["client"], event["bytes"]) == ("10.0.0.1", 512)
    assert event["gambolputty"]["event_type"] == "web"


def test_input_page_shows_no_internals() -> None:
    page = gp("modules", "TcpServer").stdout.decode()
    for internal in ("bound_port", "serve()", "``emit``", "tick()"):
        assert internal not in page
    assert "Port to listen on (0 picks a free port; the log says which)." in page
