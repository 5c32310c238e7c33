"""Grok pattern references (``%{NAME}``, ``%{NAME:field}``, ``%{NAME:field:int}``) in regexes.

The library is every file in ``grok_patterns/`` (lines ``NAME regex``, ``#`` comments), read
once per process. Expansion happens when options are validated, so a pipeline never compiles a
pattern per event, and mistakes are config errors:

- ``%{NAME}`` becomes ``(?:<NAME's regex>)``. GambolPutty pasted the regex in without a group,
  which breaks patterns with a top-level ``|`` such as ``DATE``; the group keeps them whole.
- ``%{NAME:field}`` becomes ``(?P<field>...)``; ``field`` must be a Python identifier.
- ``%{NAME:field:int}`` and ``:float`` also ask the parser to convert the value (logstash's
  suffixes; GambolPutty did not support them).
- An unknown name, an unknown type or a loop between patterns raises ``GrokError`` naming it.
  (GambolPutty logged a warning and left the reference in the regex.)

``compile_grok`` does all of it for a parser: expand, take flags (``types.parse_flags``), compile
(keeping the ``re.error`` detail) and find the named groups that a match can leave out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Final

from gp_celery.modules.types import parse_flags

PACKAGE: Final = "gp_celery.modules.parsers"
DIRECTORY: Final = "grok_patterns"
TYPES: Final = frozenset({"int", "float"})
"""Type suffixes a reference may carry, as in logstash."""

_REFERENCE = re.compile(r"%\{(\w+)(?::([^:{}]*))?(?::([^:{}]*))?\}")
_NAME = re.compile(r"\w+")


class GrokError(ValueError):
    """A grok reference or pattern file is wrong; the message says which and why."""


@dataclass(frozen=True)
class Expansion:
    """Where one reference of the pattern as written went in the expanded regex."""

    start: int
    end: int
    """The span of its expansion in the regex."""
    written: int
    """Its position in the pattern as written."""
    reference: str
    """The reference as written, e.g. ``%{IP:client}``."""


@dataclass(frozen=True)
class GrokPattern:
    """A regex with its grok references expanded, and the fields to convert after a match."""

    regex: str
    conversions: Mapping[str, str] = field(default_factory=dict)
    """Named group -> 'int' or 'float', from ``%{NAME:field:int}``."""
    expansions: tuple[Expansion, ...] = ()
    """The references of the pattern as written, in order, to map regex positions back."""

    def written_position(self, position: int) -> tuple[int, str | None]:
        """A position in ``regex`` as a position in the pattern as written, with the
        reference it lies inside, if any."""
        shift = 0
        for expansion in self.expansions:
            if position < expansion.start:
                break
            if position < expansion.end:
                return expansion.written, expansion.reference
            shift += expansion.end - expansion.start - len(expansion.reference)
        return position - shift, None


@dataclass(frozen=True)
class CompiledGrok:
    """A compiled pattern and what a parser needs to know about its named groups."""

    regex: re.Pattern[str]
    conversions: Mapping[str, str]
    optional: tuple[str, ...]
    """Named groups a match can leave out (None in ``groupdict()``)."""


def parse_library(text: str, source: str = "<text>") -> dict[str, str]:
    """Read ``NAME regex`` lines; ``#`` comments and blank lines are skipped."""
    patterns: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, _, body = stripped.partition(" ")
        body = body.strip()
        if not _NAME.fullmatch(name) or not body:
            raise GrokError(f"{source}:{number}: expected 'NAME regex', got {stripped!r}")
        patterns[name] = body
    return patterns


@cache
def load_library() -> Mapping[str, str]:
    """Every pattern shipped in ``grok_patterns/``; files are read in name order."""
    patterns: dict[str, str] = {}
    folder = resources.files(PACKAGE).joinpath(DIRECTORY)
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.is_file() and not entry.name.startswith("."):
            patterns.update(parse_library(entry.read_text(encoding="utf-8"), entry.name))
    return MappingProxyType(patterns)


def expand(pattern: str, library: Mapping[str, str] | None = None) -> GrokPattern:
    """Replace every grok reference in ``pattern``, recursively."""
    if "%{" not in pattern:
        return GrokPattern(pattern)
    library = load_library() if library is None else library
    conversions: dict[str, str] = {}
    chunks: list[str] = []
    expansions: list[Expansion] = []
    length = pos = 0
    for match in _REFERENCE.finditer(pattern):
        chunks.append(pattern[pos : match.start()])
        length += match.start() - pos
        inner = _replace(match, library, conversions, ())
        chunks.append(inner)
        expansions.append(Expansion(length, length + len(inner), match.start(), match.group()))
        length += len(inner)
        pos = match.end()
    chunks.append(pattern[pos:])
    return GrokPattern("".join(chunks), MappingProxyType(conversions), tuple(expansions))


def _expand(
    text: str, library: Mapping[str, str], conversions: dict[str, str], stack: tuple[str, ...]
) -> str:
    if "%{" not in text:
        return text
    return _REFERENCE.sub(lambda match: _replace(match, library, conversions, stack), text)


def _replace(
    match: re.Match[str],
    library: Mapping[str, str],
    conversions: dict[str, str],
    stack: tuple[str, ...],
) -> str:
    name, group, kind = match.groups()
    body = library.get(name)
    if body is None:
        raise GrokError(f"unknown grok pattern %{{{name}}}")
    if name in stack:
        raise GrokError(f"grok patterns refer to each other: {' -> '.join((*stack, name))}")
    inner = _expand(body, library, conversions, (*stack, name))
    if group is None:
        return f"(?:{inner})"
    if not group.isidentifier():
        raise GrokError(
            f"grok field {group!r} in {match.group()} must be a plain name "
            "(letters, digits and _, not starting with a digit)"
        )
    if kind is not None:
        if kind not in TYPES:
            allowed = ", ".join(sorted(TYPES))
            raise GrokError(f"unknown grok type {kind!r} in {match.group()} (use {allowed})")
        conversions[group] = kind
    return f"(?P<{group}>{inner})"


def compile_grok(
    pattern: str, flags: Any = None, library: Mapping[str, str] | None = None
) -> CompiledGrok:
    """Expand, compile and analyse a pattern; every problem is a ValueError for the user.

    A regex error names its position in the pattern as written, not in the expanded regex
    (which can be thousands of characters long), and the reference it lies inside, if any.
    """
    grok = expand(pattern, library)
    try:
        regex = re.compile(grok.regex, parse_flags(flags))
    except re.error as error:
        where = ""
        if error.pos is not None:
            position, reference = grok.written_position(error.pos)
            where = f" at position {position}" + (f" (inside {reference})" if reference else "")
        raise ValueError(f"bad regular expression: {error.msg}{where}") from None
    return CompiledGrok(regex, grok.conversions, optional_groups(regex))


def optional_groups(regex: re.Pattern[str]) -> tuple[str, ...]:
    """Named groups that may not take part in a match, so a parser skips the None check
    for the others. Reads the parse tree of the private ``re._parser``; anything it does not
    know (another Python, a new opcode) counts as optional, which is only slower."""
    parser: Any = getattr(re, "_parser", None)
    names = {number: name for name, number in regex.groupindex.items()}
    if parser is None or not names:
        return tuple(names.values())
    seen: set[int] = set()
    optional: set[int] = set()
    _walk(parser.parse(regex.pattern, regex.flags), False, seen, optional)
    return tuple(name for number, name in names.items() if number in optional or number not in seen)


def _walk(items: Any, maybe: bool, seen: set[int], optional: set[int]) -> None:
    for op, arg in items:
        kind = getattr(op, "name", "")
        if kind == "SUBPATTERN":
            if arg[0]:
                seen.add(arg[0])
                if maybe:
                    optional.add(arg[0])
            _walk(arg[3], maybe, seen, optional)
        elif kind == "BRANCH":
            for branch in arg[1]:
                _walk(branch, True, seen, optional)
        elif kind in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            _walk(arg[2], maybe or arg[0] == 0, seen, optional)
        elif kind == "ATOMIC_GROUP":
            _walk(arg, maybe, seen, optional)
        elif kind in ("ASSERT", "ASSERT_NOT"):
            _walk(arg[1], maybe or kind == "ASSERT_NOT", seen, optional)
        elif kind == "GROUPREF_EXISTS":
            for branch in arg[1:]:
                if branch is not None:
                    _walk(branch, True, seen, optional)
