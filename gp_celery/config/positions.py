"""Positions in the YAML text of the characters of a string value.

A filter error knows its column in the filter's text; the user needs the line and column in
the file. YAML changes text on the way: block scalars drop indentation, folded and
multi-line scalars turn line breaks into spaces, quoted scalars decode escapes (``\\x41``,
``''``). Folding only changes whitespace and every escape stands for one character, so the
non-blank characters of the value, in order, are the decoded non-blank characters of the
source: aligning the two maps every offset back. When they do not align (an expanded
``${VAR}``), there is no mapping and callers fall back to the value's first line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

_HEX_DIGITS: Final = {"x": 2, "u": 4, "U": 8}
_ESCAPES: Final = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f",
    "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0",
    "L": "\u2028", "P": "\u2029",
}  # fmt: skip
"""YAML's double-quoted escapes (YAML 1.1, as PyYAML reads them)."""


@dataclass(frozen=True)
class Scalar:
    """Where a scalar value sits in the text, and how it is written."""

    style: str | None
    """None (plain), "'", '"', '|' or '>', as PyYAML reports it."""
    start: int
    end: int


def line_and_column(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def value_offsets(text: str, scalar: Scalar, value: str) -> list[int] | None:
    """For each offset 0..len(value) of ``value``, its index in ``text``; None when the value
    is not what the scalar's source decodes to."""
    source = [(char, index) for char, index in _decoded(text, scalar) if not char.isspace()]
    visible = [char for char in value if not char.isspace()]
    if visible != [char for char, _ in source]:
        return None
    offsets: list[int] = []
    following = _content_start(text, scalar)
    found = iter(source)
    for char in value:
        if char.isspace():
            offsets.append(following)
        else:
            index = next(found)[1]
            offsets.append(index)
            following = index + 1
    offsets.append(following)  # the end of the value, where "unexpected end" points
    return offsets


def _content_start(text: str, scalar: Scalar) -> int:
    if scalar.style in ("|", ">"):
        newline = text.find("\n", scalar.start, scalar.end)
        return scalar.end if newline == -1 else newline + 1
    if scalar.style in ("'", '"'):
        return scalar.start + 1
    return scalar.start


def _decoded(text: str, scalar: Scalar) -> Iterator[tuple[str, int]]:
    """The characters the scalar's source stands for, each with the index it starts at."""
    start = _content_start(text, scalar)
    end = scalar.end - 1 if scalar.style in ("'", '"') else scalar.end
    pos = start
    while pos < end:
        char = text[pos]
        if scalar.style == "'" and text.startswith("''", pos):
            yield "'", pos
            pos += 2
        elif scalar.style == '"' and char == "\\" and pos + 1 < end:
            code = text[pos + 1]
            if code in "\r\n":  # an escaped line break joins the lines
                pos += 2
            elif code in _HEX_DIGITS:
                digits = _HEX_DIGITS[code]
                yield chr(int(text[pos + 2 : pos + 2 + digits], 16)), pos
                pos += 2 + digits
            else:
                yield _ESCAPES.get(code, code), pos
                pos += 2
        else:
            yield char, pos
            pos += 1
