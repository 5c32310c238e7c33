"""Catastrophic-backtracking shapes in a regex, found on the parse tree of ``re._parser``.

A backtracking engine (``re``) is exponential in the length of a line when a quantified
group can match the same text in more than one way and the rest of the pattern then fails:
``(a+)+$`` against ``'a' * 40 + '!'`` tries every way of cutting the a's into groups. These
shapes are reported (heuristic, no proof either way):

- nested quantifier: an unbounded repeat whose body holds a repeated item, where every other
  item of the body may match nothing or the same characters as that item: ``(a+)+``,
  ``(a*)*``, ``(.*)*``, ``(\\w+\\s?)+``, ``(.+ )+``. ``(\\w+ )+``, ``(?:/[^/]*)+`` and
  ``(?:\\.[a-z]{0,62})*`` are fine: a required separator the inner item cannot match decides
  where each round ends.
- overlapping alternation: an unbounded repeat over alternatives that can start with the
  same character, where one of them is a single character (class) or both are the same:
  ``(a|a)*``, ``(\\w|\\d)+``, ``(\\s|.)*``.

Atomic groups ``(?>...)`` and possessive quantifiers ``a++`` never backtrack into themselves,
so their bodies are not reported (the bundled grok patterns use them for this reason).
Not reported: polynomial shapes such as adjacent repeats over the same characters
(``.*a.*a.*a``), which are slow on long lines but not exponential: ``max_input_bytes``
bounds those.

Characters are compared on a sample alphabet (ASCII and a few non-ASCII letters, digits and
spaces), which is enough to tell classes apart in real patterns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from gp_celery.modules.parsers.regex_parser.tree import (
    Node,
    available,
    op_name,
    opcode,
    parse_tree,
    render,
)

SAMPLE: Final = frozenset(
    [chr(code) for code in range(128)] + list("é\u00dfЖ中٣\u00a0\u2003\u2028\U0001f600")
)
"""Characters on which two classes are compared: do they share one?"""

UNBOUNDED_FROM: Final = 10
"""A repeat that may run this many times or more counts as unbounded: ``(a+){1,50}``
backtracks like ``(a+)+`` on the lines that matter."""


@dataclass(frozen=True)
class Risk:
    """One risky shape: what it is and the part of the pattern that has it."""

    kind: str
    """'nested quantifier' or 'overlapping alternation'."""
    where: str
    """The repeated part, written back as a regex (grok references expanded)."""

    def __str__(self) -> str:
        return f"{self.kind} in '{self.where}'"


def find_risks(pattern: str, flags: int = 0) -> list[Risk]:
    """Every catastrophic-backtracking shape in a pattern that compiles with ``re``; none
    when this Python's ``re`` has no parse tree to read."""
    if not available():
        return []
    items, all_flags = parse_tree(pattern, flags)
    risks: list[Risk] = []
    _Walker(all_flags, risks).walk(items)
    return list(dict.fromkeys(risks))


class _Walker:
    def __init__(self, flags: int, risks: list[Risk]) -> None:
        self.flags, self.risks = flags, risks

    def walk(self, items: Iterable[Node]) -> None:
        for op, arg in items:
            kind = op_name(op)
            if kind in ("MAX_REPEAT", "MIN_REPEAT"):
                _low, high, body = arg
                if high >= UNBOUNDED_FROM:
                    self._check_repeat((op, arg), list(body))
                self.walk(body)
            elif kind == "POSSESSIVE_REPEAT":
                self.walk(arg[2])
            elif kind == "SUBPATTERN":
                self.walk(arg[3])
            elif kind == "ATOMIC_GROUP":
                self.walk(arg)
            elif kind == "BRANCH":
                for branch in arg[1]:
                    self.walk(branch)
            elif kind in ("ASSERT", "ASSERT_NOT"):
                self.walk(arg[1])
            elif kind == "GROUPREF_EXISTS":
                for branch in arg[1:]:
                    if branch is not None:
                        self.walk(branch)

    def _check_repeat(self, node: Node, body: list[Node]) -> None:
        sequence = _flatten(body)
        alternatives = [sequence]
        if len(sequence) == 1 and op_name(sequence[0][0]) == "BRANCH":
            alternatives = [_flatten(list(branch)) for branch in sequence[0][1][1]]
        for items in alternatives:
            if self._nested(items):
                self.risks.append(Risk("nested quantifier", render([node])))
                return
        for _op, arg in (item for item in sequence if op_name(item[0]) == "BRANCH"):
            if self._overlapping(arg[1]):
                self.risks.append(Risk("overlapping alternation", render([node])))
                return

    def _nested(self, items: list[Node]) -> bool:
        for index, (op, arg) in enumerate(items):
            if op_name(op) not in ("MAX_REPEAT", "MIN_REPEAT") or arg[1] < 2:
                continue
            inner = self.chars([(op, arg)])
            others = items[:index] + items[index + 1 :]
            if all(_nullable([other]) or self.chars([other]) & inner for other in others):
                return True
        return False

    def _overlapping(self, branches: Sequence[Any]) -> bool:
        for i, first in enumerate(branches):
            for second in branches[i + 1 :]:
                if list(first) == list(second):
                    return True
                single = _single_class(list(first)) or _single_class(list(second))
                if single and self.first(list(first)) & self.first(list(second)):
                    return True
        return False

    def chars(self, items: Iterable[Node]) -> frozenset[str]:
        """Sample characters any item can consume."""
        found: set[str] = set()
        for op, arg in items:
            kind = op_name(op)
            if kind in ("LITERAL", "NOT_LITERAL", "ANY", "IN"):
                found |= self._atom(kind, arg)
            elif kind in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                found |= self.chars(arg[2])
            elif kind == "SUBPATTERN":
                found |= self.chars(arg[3])
            elif kind == "ATOMIC_GROUP":
                found |= self.chars(arg)
            elif kind == "BRANCH":
                for branch in arg[1]:
                    found |= self.chars(branch)
            elif kind in ("GROUPREF", "GROUPREF_EXISTS"):
                found |= SAMPLE
        return frozenset(found)

    def first(self, items: list[Node]) -> frozenset[str]:
        """Sample characters a match of the sequence can start with."""
        found: set[str] = set()
        for position, item in enumerate(items):
            kind = op_name(item[0])
            if kind in ("LITERAL", "NOT_LITERAL", "ANY", "IN"):
                return frozenset(found | self._atom(kind, item[1]))
            if kind in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                found |= self.first(list(item[1][2]))
            elif kind == "SUBPATTERN":
                found |= self.first(list(item[1][3]))
            elif kind == "BRANCH":
                for branch in item[1][1]:
                    found |= self.first(list(branch))
            elif kind in ("GROUPREF", "GROUPREF_EXISTS", "ATOMIC_GROUP"):
                found |= self.chars(items[position:])
            if not _nullable([item]):
                break
        return frozenset(found)

    def _atom(self, kind: str, arg: Any) -> frozenset[str]:
        return _atom_chars(kind, _freeze(arg), self.flags)


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, tuple):
        return tuple(_freeze(item) for item in value)
    return value


@lru_cache(maxsize=4096)  # bounded: patterns come from configs, but a process may load many
def _atom_chars(kind: str, arg: Any, flags: int) -> frozenset[str]:
    """Sample characters one single-character item matches (case folded by ``re``)."""
    pattern = render([(opcode(kind), _thaw(arg))])
    regex = re.compile(pattern, flags & (re.IGNORECASE | re.ASCII | re.DOTALL))
    return frozenset(char for char in SAMPLE if regex.fullmatch(char))


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return [tuple(item) for item in value]
    return value


def _flatten(items: list[Node]) -> list[Node]:
    """Groups that are not repeated spliced into the sequence around them."""
    flat: list[Node] = []
    for op, arg in items:
        if op_name(op) == "SUBPATTERN":
            flat += _flatten(list(arg[3]))
        else:
            flat.append((op, arg))
    return flat


def _single_class(items: list[Node]) -> bool:
    """One character or class, or a repeat of one: ``a``, ``\\w``, ``[ab]+``."""
    flat = _flatten(items)
    if len(flat) != 1:
        return False
    kind = op_name(flat[0][0])
    if kind in ("MAX_REPEAT", "MIN_REPEAT"):
        return _single_class(list(flat[0][1][2]))
    return kind in ("LITERAL", "NOT_LITERAL", "ANY", "IN")


def _nullable(items: Iterable[Node]) -> bool:
    """May the sequence match the empty string?"""
    for op, arg in items:
        kind = op_name(op)
        if kind in ("LITERAL", "NOT_LITERAL", "ANY", "IN"):
            return False
        if kind in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            if arg[0] > 0 and not _nullable(arg[2]):
                return False
        elif kind == "SUBPATTERN":
            if not _nullable(arg[3]):
                return False
        elif kind == "ATOMIC_GROUP":
            if not _nullable(arg):
                return False
        elif kind == "BRANCH" and not any(_nullable(branch) for branch in arg[1]):
            return False
    return True
