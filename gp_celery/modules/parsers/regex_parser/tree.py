"""The parse tree of ``re``'s private parser (``re._parser``, 3.11+): parsed, and written
back as a Python regex for messages and for testing one character class at a time."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

_parser: Any = getattr(re, "_parser", None)
_constants: Any = getattr(re, "_constants", None)

Node = tuple[Any, Any]
"""One item of the parse tree: (opcode, argument)."""
_CATEGORY_TESTS: Final = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}


def op_name(op: Any) -> str:
    return str(getattr(op, "name", op))


def available() -> bool:
    """Does this Python's ``re`` have the parse tree we read?"""
    return _parser is not None


def opcode(kind: str) -> Any:
    """The opcode named ``kind`` (``'LITERAL'``)."""
    return getattr(_constants, kind)


def unbounded(high: int) -> bool:
    """Is a repeat's upper bound 'no bound' (``*``, ``+``, ``{2,}``)?"""
    return bool(high == _constants.MAXREPEAT)


def parse_tree(pattern: str, flags: int) -> tuple[list[Node], int]:
    """The parse tree and the effective flags (inline ``(?i)`` included)."""
    parsed = _parser.parse(pattern, flags)
    return list(parsed), int(parsed.state.flags)


def render(items: Iterable[Node]) -> str:
    """A parse tree written back as a Python regex (for messages and class tests)."""
    return "".join(_render(op, arg) for op, arg in items)


def _render(op: Any, arg: Any) -> str:
    kind = op_name(op)
    if kind == "LITERAL":
        return _escape(arg)
    if kind == "NOT_LITERAL":
        return f"[^{_escape(arg)}]"
    if kind == "ANY":
        return "."
    if kind == "IN":
        if len(arg) == 1 and op_name(arg[0][0]) == "CATEGORY":
            return _render_member(arg[0])
        return "[" + "".join(_render_member(member) for member in arg) + "]"
    if kind in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, high, body = arg
        inner = render(body)
        if not _is_atom_or_group(list(body)):
            inner = f"(?:{inner})"
        suffix = {"MIN_REPEAT": "?", "POSSESSIVE_REPEAT": "+"}.get(kind, "")
        return inner + _quantifier(low, high) + suffix
    if kind == "SUBPATTERN":
        return ("(" if arg[0] else "(?:") + render(arg[3]) + ")"
    if kind == "ATOMIC_GROUP":
        return f"(?>{render(arg)})"
    if kind == "BRANCH":
        return "(?:" + "|".join(render(branch) for branch in arg[1]) + ")"
    return _render_other(kind, arg)


def _render_other(kind: str, arg: Any) -> str:
    if kind == "AT":
        return _AT.get(op_name(arg), "")
    if kind == "GROUPREF":
        return f"\\{arg}"
    if kind in ("ASSERT", "ASSERT_NOT"):
        ahead = "" if arg[0] >= 0 else "<"
        sign = "=" if kind == "ASSERT" else "!"
        return f"(?{ahead}{sign}{render(arg[1])})"
    return "(?:...)"


_AT: Final = {
    "AT_BEGINNING": "^",
    "AT_BEGINNING_STRING": r"\A",
    "AT_END": "$",
    "AT_END_STRING": r"\Z",
    "AT_BOUNDARY": r"\b",
    "AT_NON_BOUNDARY": r"\B",
}


def _is_atom_or_group(body: list[Node]) -> bool:
    """Written as one unit a quantifier can follow without a group around it."""
    kinds = ("LITERAL", "NOT_LITERAL", "ANY", "IN", "SUBPATTERN", "ATOMIC_GROUP", "BRANCH")
    return len(body) == 1 and op_name(body[0][0]) in kinds


def _render_member(member: Node) -> str:
    kind, arg = op_name(member[0]), member[1]
    if kind == "NEGATE":
        return "^"
    if kind == "LITERAL":
        return _escape(arg)
    if kind == "RANGE":
        return f"{_escape(arg[0])}-{_escape(arg[1])}"
    if kind == "CATEGORY":
        return _CATEGORY_TESTS.get(op_name(arg), "")
    return ""


def _escape(code: int) -> str:
    char = chr(code)
    if char in _SPECIAL:
        return "\\" + char
    return char if char.isprintable() else repr(char)[1:-1]  # \n, \x00, \u2028: valid in re


_SPECIAL: Final = frozenset(".^$*+?{}[]\\|()-#&~")


def _quantifier(low: int, high: int) -> str:
    endless = unbounded(high)
    if (low, endless) == (0, True):
        return "*"
    if (low, endless) == (1, True):
        return "+"
    if (low, high) == (0, 1):
        return "?"
    if endless:
        return f"{{{low},}}"
    return f"{{{low}}}" if low == high else f"{{{low},{high}}}"
