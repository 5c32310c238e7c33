"""The shared option types: one regex-flag table and one FlaggedRegex for every module."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel

from gp_celery.modules.types import FlaggedRegex, compile_flagged_regex, parse_flags


@pytest.mark.parametrize(
    ("text", "flags"),
    [
        (None, re.RegexFlag(0)),
        ("", re.RegexFlag(0)),
        ("re.MULTILINE | re.DOTALL", re.MULTILINE | re.DOTALL),
        ("MULTILINE|IGNORECASE", re.MULTILINE | re.IGNORECASE),
        ("re.I", re.IGNORECASE),
        ("verbose, ascii", re.VERBOSE | re.ASCII),
        ("M|S", re.MULTILINE | re.DOTALL),
        ("IGNORECASE", re.IGNORECASE),
        ("re.I | re.M", re.IGNORECASE | re.MULTILINE),
    ],
)
def test_flags_come_from_a_whitelist(text: str | None, flags: re.RegexFlag) -> None:
    assert parse_flags(text) == flags


@pytest.mark.parametrize("text", ["re.LOCALE", "os.system('rm -rf /')", "MULTILINE | BOGUS"])
def test_unknown_flags_are_errors_naming_the_flag(text: str) -> None:
    with pytest.raises(ValueError, match="unknown regex flag"):
        parse_flags(text)


def test_flags_must_be_text() -> None:
    with pytest.raises(ValueError, match="flags must be a string"):
        parse_flags(8)


@pytest.mark.parametrize(
    ("value", "flags"),
    [
        ("a.b", 0),
        (["a.b"], 0),
        (["a.b", None], 0),
        (["a.b", "re.MULTILINE | re.DOTALL"], re.MULTILINE | re.DOTALL),
        (["a.b", "M|S"], re.MULTILINE | re.DOTALL),
        (["a.b", "IGNORECASE"], re.IGNORECASE),
    ],
)
def test_flagged_regex_takes_a_pattern_or_pattern_and_flags(value: Any, flags: int) -> None:
    regex = compile_flagged_regex(value)
    assert regex.pattern == "a.b"
    assert regex.flags & ~re.UNICODE == flags


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["a", "re.I", "extra"], "expected a pattern or \\[pattern, flags\\]"),
        ([], "expected a pattern or \\[pattern, flags\\]"),
        (["(a", "I"], "bad regular expression: missing \\), unterminated subpattern at position 0"),
        (["a", "re.I + 1"], "unknown regex flag '\\+'"),
        (5, "expected a regular expression, got int"),
    ],
)
def test_flagged_regex_errors_say_what_is_wrong(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_flagged_regex(value)


def test_flagged_regex_is_an_option_type() -> None:
    class Options(BaseModel):
        regex: FlaggedRegex

    assert Options.model_validate({"regex": ["x", "I"]}).regex.match("X")
