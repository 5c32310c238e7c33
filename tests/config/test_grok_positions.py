"""A bad regex inside a grok pattern names the position in the pattern as written, not in
the expanded regex (issue 7, part 2)."""

from __future__ import annotations

import pytest

from gp_celery.modules.parsers.grok import compile_grok


@pytest.mark.parametrize(
    ("pattern", "where"),
    [
        ("%{INT:n} %{INT:n}", "at position 9 (inside %{INT:n})"),
        ("(?P<a>%{IP}", "at position 0"),
        ("%{IP} (?P<x", "at position 10"),
        ("%{IPV6} [a-", "at position 8"),
        ("%{IP:client} %{WORD:verb})", "at position 25"),
    ],
)
def test_bad_regex_in_a_grok_pattern_names_the_position_as_written(
    pattern: str, where: str
) -> None:
    with pytest.raises(ValueError, match="bad regular expression") as raised:
        compile_grok(pattern)
    assert str(raised.value).endswith(where)


def test_bad_regex_inside_a_referenced_pattern_names_the_reference() -> None:
    library = {"OUTER": "x%{BROKEN}", "BROKEN": "a(b"}
    with pytest.raises(ValueError, match="bad regular expression") as raised:
        compile_grok("abc %{OUTER:o} d", library=library)
    assert str(raised.value).endswith("at position 4 (inside %{OUTER:o})")
