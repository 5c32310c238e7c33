"""RE2 (PyPI ``google-re2``) for RegexParser: linear time whatever the line.

``to_re2`` rewrites a pattern that ``re`` parsed into RE2's syntax with the same meaning, or
raises ``NotForRe2`` saying why it cannot: backreferences, lookaround, atomic groups and
possessive quantifiers (RE2 has none), a repeat count over 1000 (RE2's limit), ``\\b`` without
the ASCII flag (RE2's word boundary is ASCII only), IGNORECASE with ASCII (RE2 folds case in
Unicode), ``$`` without MULTILINE anywhere but at the end of the pattern (``re``'s ``$``
also matches before a final newline, which RE2 can only do by consuming it).

``re``'s Unicode classes become Unicode properties: ``\\d`` -> ``\\p{Nd}``, ``\\w`` ->
``[\\p{L}\\p{N}_]``, ``\\s`` -> the characters ``str.isspace`` accepts. They agree on every
code point that this Python's Unicode database knows; RE2 may know newer ones (letters
assigned after Unicode 14 are ``\\w`` for RE2, not for Python 3.11's ``re``). With
IGNORECASE, ``re`` also folds U+0130 and U+0131 to i; RE2 does not.

``Re2Regex`` is the small part of ``re.Pattern`` the parser uses (``search``, ``finditer``,
``groupindex``). It calls RE2's C++ matcher directly: the ``re2`` module's own ``search``
decodes every offset in Python and is about 5 times slower on the combined access-log regex.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from gp_celery.modules.parsers.regex_parser.tree import Node, parse_tree, unbounded

RE2_MAX_REPEAT: Final = 1000
"""RE2 refuses larger repeat counts."""

_UNICODE_CLASSES: Final[Mapping[str, tuple[str, str | None]]] = {
    "CATEGORY_DIGIT": (r"\p{Nd}", r"\P{Nd}"),
    "CATEGORY_WORD": (r"\p{L}\p{N}_", None),
    "CATEGORY_SPACE": (r"\t-\r\x{1c}-\x{1f}\x{85}\p{Z}", None),
}
"""``re``'s Unicode class -> (members inside ``[...]``, the complement as one item or None)."""

_ASCII_CLASSES: Final[Mapping[str, str]] = {
    "CATEGORY_DIGIT": "0-9",
    "CATEGORY_WORD": "0-9A-Za-z_",
    "CATEGORY_SPACE": r"\t-\r ",
}

_AT: Final = {
    "AT_BEGINNING": "^",
    "AT_BEGINNING_STRING": r"\A",
    "AT_END_STRING": r"\z",
}


class NotForRe2(ValueError):  # noqa: N818 a reason, read as "not for RE2: ..."
    """The pattern needs a backtracking engine; the message says which part."""


def _name(op: Any) -> str:
    return str(getattr(op, "name", op))


def to_re2(pattern: str, flags: int = 0) -> str:
    """The pattern in RE2 syntax, matching what ``re`` matches (see the module docstring)."""
    items, all_flags = parse_tree(pattern, flags)
    if all_flags & re.ASCII and all_flags & re.IGNORECASE:
        raise NotForRe2("IGNORECASE with ASCII (RE2 folds case in Unicode)")
    prefix = "".join(
        letter
        for flag, letter in ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))
        if all_flags & flag
    )
    names = {number: name for name, number in _group_names(pattern, flags).items()}
    writer = _Writer(all_flags, names)
    body = writer.sequence(items, last=True)
    return f"(?{prefix}){body}" if prefix else body


def _group_names(pattern: str, flags: int) -> Mapping[str, int]:
    return re.compile(pattern, flags).groupindex


class _Writer:
    def __init__(self, flags: int, names: Mapping[int, str]) -> None:
        self.ascii = bool(flags & re.ASCII)
        self.multiline = bool(flags & re.MULTILINE)
        self.names = names

    def sequence(self, items: list[Node] | Any, *, last: bool = False) -> str:
        items = list(items)
        return "".join(
            self.item(op, arg, last=last and index == len(items) - 1)
            for index, (op, arg) in enumerate(items)
        )

    def item(self, op: Any, arg: Any, *, last: bool = False) -> str:
        kind = _name(op)
        if kind == "LITERAL":
            return _literal(arg)
        if kind == "NOT_LITERAL":
            return f"[^{_literal(arg)}]"
        if kind == "ANY":
            return "."
        if kind == "IN":
            return self.char_class(arg)
        if kind in ("MAX_REPEAT", "MIN_REPEAT"):
            return self.repeat(kind, *arg)
        if kind == "SUBPATTERN":
            return self.group(*arg, last=last)
        if kind == "BRANCH":
            alternatives = (self.sequence(branch, last=last) for branch in arg[1])
            return "(?:" + "|".join(alternatives) + ")"
        if kind == "AT":
            return self.anchor(_name(arg), last=last)
        raise NotForRe2(_UNSUPPORTED.get(kind, kind.lower().replace("_", " ")))

    def repeat(self, kind: str, low: int, high: int, body: Any) -> str:
        endless = unbounded(high)
        if low > RE2_MAX_REPEAT or (not endless and high > RE2_MAX_REPEAT):
            raise NotForRe2(f"a repeat count over {RE2_MAX_REPEAT}")
        quantifier = f"{{{low},}}" if endless else f"{{{low},{high}}}"
        lazy = "?" if kind == "MIN_REPEAT" else ""
        return f"(?:{self.sequence(body)}){quantifier}{lazy}"

    def group(self, number: int | None, add: int, remove: int, body: Any, *, last: bool) -> str:
        if (add | remove) & ~(re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE):
            raise NotForRe2("an inline ASCII, LOCALE or UNICODE flag")
        if (add | remove) & re.MULTILINE:
            raise NotForRe2("an inline MULTILINE flag on a group")
        flags = _flag_letters(add) + ("-" + _flag_letters(remove) if _flag_letters(remove) else "")
        inner = self.sequence(body, last=last and number is None)
        inner = f"(?{flags}:{inner})"
        if number:
            name = self.names.get(number)
            return (f"(?P<{name}>" if name else "(") + inner + ")"
        return inner

    def anchor(self, kind: str, *, last: bool) -> str:
        if kind == "AT_END":
            if self.multiline:
                return "$"
            if last:
                return r"(?:\n?\z)"  # re's $ also matches before a final newline
            raise NotForRe2("$ before the end of the pattern or inside a group")
        if kind in ("AT_BOUNDARY", "AT_NON_BOUNDARY"):
            if not self.ascii:
                raise NotForRe2(r"\b or \B (RE2's word boundary is ASCII only)")
            return r"\b" if kind == "AT_BOUNDARY" else r"\B"
        return _AT[kind]

    def char_class(self, members: list[Node]) -> str:
        negate = bool(members) and _name(members[0][0]) == "NEGATE"
        body = members[1:] if negate else members
        if len(body) == 1 and _name(body[0][0]) == "CATEGORY" and not negate:
            return self.category(_name(body[0][1]), alone=True)
        parts = []
        for op, arg in body:
            kind = _name(op)
            if kind == "LITERAL":
                parts.append(_literal(arg))
            elif kind == "RANGE":
                parts.append(f"{_literal(arg[0])}-{_literal(arg[1])}")
            elif kind == "CATEGORY":
                parts.append(self.category(_name(arg), alone=False))
            else:
                raise NotForRe2(f"{kind.lower()} in a character class")
        return f"[{'^' if negate else ''}{''.join(parts)}]"

    def category(self, kind: str, *, alone: bool) -> str:
        """A class escape: members to put inside ``[...]``, or (``alone``) a whole item."""
        negated = "_NOT_" in kind
        base = kind.replace("_NOT_", "_")
        if self.ascii:
            members, complement = _ASCII_CLASSES[base], None
        else:
            members, complement = _UNICODE_CLASSES[base]
        if not negated:
            return f"[{members}]" if alone else members
        if complement is not None:
            return complement
        if not alone:
            raise NotForRe2(r"\W, \S or \D beside other members of a character class")
        return f"[^{members}]"


_UNSUPPORTED: Final = {
    "GROUPREF": "a backreference",
    "GROUPREF_EXISTS": "a conditional group (?(...)...)",
    "ASSERT": "a lookahead or lookbehind",
    "ASSERT_NOT": "a negative lookahead or lookbehind",
    "ATOMIC_GROUP": "an atomic group (?>...)",
    "POSSESSIVE_REPEAT": "a possessive quantifier",
}


def _flag_letters(flags: int) -> str:
    return "".join(
        letter for flag, letter in ((re.IGNORECASE, "i"), (re.DOTALL, "s")) if flags & flag
    )


def _literal(code: int) -> str:
    if code < 128 and chr(code).isalnum():
        return chr(code)
    return f"\\x{{{code:x}}}"


class Re2Match:
    """A match of ``Re2Regex``: ``groupdict()`` and ``start()`` as ``re.Match`` has them."""

    __slots__ = ("_names", "_raw", "_spans", "_text")

    def __init__(
        self, text: str, raw: bytes | None, spans: list[tuple[int, int]], names: Any
    ) -> None:
        self._text, self._raw, self._spans, self._names = text, raw, spans, names

    def _group(self, index: int) -> str | None:
        start, end = self._spans[index]
        if start < 0:
            return None
        if self._raw is None:  # ASCII: byte offsets are character offsets
            return self._text[start:end]
        return self._raw[start:end].decode("utf-8", "replace")

    def groupdict(self) -> dict[str, str | None]:
        return {name: self._group(index) for name, index in self._names}

    def start(self) -> int:
        """Where the match starts, in characters."""
        return self._chars(self._spans[0][0])

    def end(self) -> int:
        """Where the match ends, in characters."""
        return self._chars(self._spans[0][1])

    def _chars(self, offset: int) -> int:
        if self._raw is None:
            return offset
        return len(self._raw[:offset].decode("utf-8", "replace"))


class Re2Regex:
    """A pattern compiled by RE2, with the part of ``re.Pattern``'s API the parser uses.

    Text is matched as UTF-8; a lone surrogate (which has no UTF-8 form) is matched as '?'.
    """

    def __init__(self, pattern: str) -> None:
        import re2

        self.pattern = pattern
        options = re2.Options()
        options.log_errors = False  # the error goes into NotForRe2, not to stderr
        self._regexp = re2._re2.RE2(pattern.encode("utf-8"), options)
        if not self._regexp.ok():
            raise NotForRe2(f"RE2 cannot compile it: {self._regexp.error()}")
        self._anchor = re2._Anchor.UNANCHORED
        self.groupindex: Mapping[str, int] = {
            name.decode("utf-8"): index for name, index in self._regexp.NamedCapturingGroups()
        }
        self._names = tuple(self.groupindex.items())

    def _match(self, text: str, pos: int) -> Re2Match | None:
        if text.isascii():
            raw, encoded = None, text.encode("ascii")
        else:
            raw = encoded = text.encode("utf-8", "replace")
            pos = len(text[:pos].encode("utf-8", "replace"))
        spans = self._regexp.Match(self._anchor, encoded, pos, len(encoded))
        if spans[0][0] < 0:
            return None
        return Re2Match(text, raw, spans, self._names)

    def search(self, text: str) -> Re2Match | None:
        return self._match(text, 0)

    def finditer(self, text: str, pos: int = 0) -> Iterator[Re2Match]:
        """Every match from ``pos`` on, without overlaps (as ``re.finditer``)."""
        while pos <= len(text):
            match = self._match(text, pos)
            if match is None:
                return
            yield match
            start, end = match.start(), match.end()
            pos = end if end > start else end + 1
