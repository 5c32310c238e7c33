"""`gp-celery modules NAME`: found in any case, and a wrong name gets a suggestion."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import gp


@pytest.mark.parametrize(
    ("typed", "page"),
    [
        ("regexparser", "RegexParser (parser)"),
        ("MODIFYFIELDS", "ModifyFields (modifier)"),
        ("parser.regex", "RegexParser (parser)"),
        ("OUTPUT.STDOUT", "StdOutSink (sink)"),
        ("elasticsearchsink", "ElasticSearchSink (sink) - NOT BUILT YET"),
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
