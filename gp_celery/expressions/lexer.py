"""Tokenizer for filters and expressions, and the `$(path)` reader shared with templates.

Lexing is done by hand, not with `tokenize`, so every rejected construct (assignment, `;`,
f-strings, `&&`, ...) gets its own message and exact column, and `$(x)` inside a quoted
string stays text.

``%(path)`` is the older spelling of ``$(path)`` (both generations accepted it). Where a value
is expected (at the start, after an operator, ``(``, ``,`` or a word such as ``and``) ``%(``
starts a field reference; after a value it is the modulo operator, so ``$(a) % (2)`` and
``$(a)%(2)`` stay arithmetic. A printf-style conversion right after a reference
(``$(data)s``, ``%(bytes)d``) is read and ignored, as GambolPutty's filters did.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any, Final, NamedTuple

from gp_celery.event import FieldPath
from gp_celery.expressions.errors import ExpressionError

FIELD: Final = "field"
STRING: Final = "string"
NUMBER: Final = "number"
NAME: Final = "name"
OP: Final = "op"
END: Final = "end"


class Token(NamedTuple):
    kind: str
    value: Any  # path for FIELD, decoded text for STRING, int/float for NUMBER, else the text
    column: int  # 1-based


_OPERATORS: Final = (
    "**", "//", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]",
    ",", ".",
)  # fmt: skip
_REJECTED: Final = {
    "<>": "'<>' is not supported; use '!='",
    "&&": "'&&' is not supported; use 'and'",
    "||": "'||' is not supported; use 'or'",
    "<<": "bit shifts are not supported",
    ">>": "bit shifts are not supported",
    "=": "assignment is not allowed (did you mean '=='?)",
    ";": "';' is not allowed: a filter is a single expression",
    ":": "':' is not allowed: no lambdas, slices or dicts",
    "!": "'!' is not supported; use 'not'",
    "{": "dicts and sets are not supported",
    "}": "dicts and sets are not supported",
    "#": "comments are not supported",
    "&": "bitwise operators are not supported",
    "|": "bitwise operators are not supported",
    "^": "bitwise operators are not supported",
    "~": "bitwise operators are not supported",
    "@": "'@' is not supported",
    "\\": "'\\' outside a string is not supported",
}
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER: Final = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_WHITESPACE: Final = frozenset(" \t\r\n\f")
_SIMPLE_ESCAPES: Final = {
    "\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
    "t": "\t", "v": "\v", "\n": "",
}  # fmt: skip
_HEX_ESCAPES: Final = {"x": 2, "u": 4, "U": 8}
_PATH_FORBIDDEN: Final = frozenset("$('\"\n")
_CONVERSION: Final = re.compile(
    r"(?P<flags>[-+#0]*)(?P<width>\d*)(?P<precision>\.\d+)?(?P<type>[sdf])"
)
_BEFORE_OPERAND: Final = frozenset({"and", "or", "not", "in", "is", "if"})


def tokenize(text: str) -> Iterator[Token]:
    """Yield the tokens of a filter or expression, ending with END.

    Lazily, so the parser reports the first problem in reading order (``lambda: 1`` is about
    ``lambda``, not the ``:``).
    """
    tokens: list[Token] = []
    last: Token | None = None
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char in _WHITESPACE:
            pos += 1
        elif char == "$" or (char == "%" and text.startswith("%(", pos) and _wants_value(last)):
            pos = _field_token(text, pos, tokens)
        elif char in "'\"":
            value, end = read_string(text, pos, raw=False)
            tokens.append(Token(STRING, value, pos + 1))
            pos = end
        elif char.isdigit() or (char == "." and text[pos + 1 : pos + 2].isdigit()):
            pos = _number_token(text, pos, tokens)
        elif match := _NAME.match(text, pos):
            pos = _name_token(text, match.group(), pos, tokens)
        else:
            pos = _operator_token(text, pos, tokens)
        if tokens:
            last = tokens[-1]
        yield from tokens
        tokens.clear()
    yield Token(END, "", len(text) + 1)


def _wants_value(last: Token | None) -> bool:
    """True where the grammar expects an operand, so '%' cannot be the modulo operator."""
    if last is None:
        return True
    if last.kind == OP:
        return last.value not in (")", "]")
    return last.kind == NAME and last.value in _BEFORE_OPERAND


def _field_token(text: str, pos: int, tokens: list[Token]) -> int:
    if not text.startswith(("$(", "%("), pos):
        raise ExpressionError("'$' must start a field reference such as $(name)", pos + 1)
    path, end = read_field_ref(text, pos)
    tokens.append(Token(FIELD, path, pos + 1))
    _conversion, end = read_conversion(text, end)
    return end


def _number_token(text: str, pos: int, tokens: list[Token]) -> int:
    match = _NUMBER.match(text, pos)
    assert match is not None  # tokenize saw a digit or '.digit' here
    end = match.end()
    if _NAME.match(text, end):
        raise ExpressionError(f"invalid number {text[pos : end + 1]!r}", pos + 1)
    literal = match.group()
    try:
        value: int | float = float(literal) if any(c in literal for c in ".eE") else int(literal)
    except ValueError as error:  # more digits than int() converts
        raise ExpressionError(f"invalid number: {error}", pos + 1) from None
    tokens.append(Token(NUMBER, value, pos + 1))
    return end


def _name_token(text: str, name: str, pos: int, tokens: list[Token]) -> int:
    end = pos + len(name)
    if text[end : end + 1] in ("'", '"') and name.lower() in ("r", "u", "f", "b", "rb", "br"):
        return _prefixed_string(text, name.lower(), pos, tokens)
    tokens.append(Token(NAME, name, pos + 1))
    return end


def _prefixed_string(text: str, prefix: str, pos: int, tokens: list[Token]) -> int:
    if "f" in prefix:
        raise ExpressionError("f-strings are not supported", pos + 1)
    if "b" in prefix:
        raise ExpressionError("bytes literals are not supported", pos + 1)
    value, end = read_string(text, pos + 1, raw=prefix == "r")
    tokens.append(Token(STRING, value, pos + 1))
    return end


def _operator_token(text: str, pos: int, tokens: list[Token]) -> int:
    for rejected, message in _REJECTED.items():
        if text.startswith(rejected, pos) and not text.startswith(("==", "!=", "<=", ">="), pos):
            raise ExpressionError(message, pos + 1)
    for operator in _OPERATORS:
        if text.startswith(operator, pos):
            tokens.append(Token(OP, operator, pos + 1))
            return pos + len(operator)
    raise ExpressionError(f"unexpected character {text[pos]!r}", pos + 1)


def read_string(text: str, start: int, *, raw: bool) -> tuple[str, int]:
    """Decode the quoted literal at ``start``; return its value and the index after it."""
    quote = text[start]
    chunks: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == quote:
            return "".join(chunks), pos + 1
        if char == "\n":
            break
        if char == "\\" and pos + 1 < len(text):
            if raw:
                chunks.append(text[pos : pos + 2])
                pos += 2
            else:
                decoded, pos = _escape(text, pos)
                chunks.append(decoded)
            continue
        chunks.append(char)
        pos += 1
    raise ExpressionError("unterminated string", start + 1)


def _escape(text: str, pos: int) -> tuple[str, int]:
    """Decode the backslash escape at ``pos`` the way Python does; unknown ones stay as is."""
    code = text[pos + 1]
    if code in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[code], pos + 2
    if code in "01234567":
        digits = re.match(r"[0-7]{1,3}", text[pos + 1 : pos + 4])
        assert digits is not None
        return chr(int(digits.group(), 8)), pos + 1 + len(digits.group())
    if code in _HEX_ESCAPES:
        width = _HEX_ESCAPES[code]
        digits_text = text[pos + 2 : pos + 2 + width]
        if not re.fullmatch(r"[0-9a-fA-F]+", digits_text) or len(digits_text) != width:
            raise ExpressionError(f"truncated \\{code} escape", pos + 1)
        value = int(digits_text, 16)
        if value > 0x10FFFF:
            raise ExpressionError(f"invalid \\{code} escape", pos + 1)
        return chr(value), pos + 2 + width
    if code == "N":
        return _named_escape(text, pos)
    return text[pos : pos + 2], pos + 2


def _named_escape(text: str, pos: int) -> tuple[str, int]:
    close = text.find("}", pos)
    if not text.startswith("\\N{", pos) or close == -1:
        raise ExpressionError("malformed \\N{...} escape", pos + 1)
    name = text[pos + 3 : close]
    try:
        return unicodedata.lookup(name), close + 1
    except KeyError:
        raise ExpressionError(f"unknown character name {name!r}", pos + 1) from None


def read_field_ref(text: str, start: int) -> tuple[str, int]:
    """Read ``$(path)`` (or ``%(path)``) at ``start``; return the path and the index after it.

    Quotes around the path are tolerated (``$('event_type')``, CORE 4.3 #7) and an
    ``event.`` prefix is dropped (LumberMill's synonym, CORE 3.4).
    """
    pos = start + 2
    while text[pos : pos + 1] in _WHITESPACE and pos < len(text):
        pos += 1
    if text[pos : pos + 1] in ("'", '"'):
        quote = text[pos]
        close = text.find(quote, pos + 1)
        if close == -1:
            raise ExpressionError("unterminated quoted field path", pos + 1)
        path, pos = text[pos + 1 : close], close + 1
        while text[pos : pos + 1] in _WHITESPACE and pos < len(text):
            pos += 1
        if text[pos : pos + 1] != ")":
            raise ExpressionError(f"expected ')' to close {text[start : start + 2]!r}", pos + 1)
    else:
        path, pos = _read_bare_path(text, start, pos)
    return _clean_path(path.strip(), start), pos + 1


def _read_bare_path(text: str, start: int, pos: int) -> tuple[str, int]:
    begin = pos
    while pos < len(text) and text[pos] != ")":
        if text[pos] in _PATH_FORBIDDEN:
            raise ExpressionError(f"unexpected {text[pos]!r} in field path", pos + 1)
        pos += 1
    if pos >= len(text):
        raise ExpressionError(f"unclosed {text[start : start + 2]!r}: expected ')'", start + 1)
    return text[begin:pos], pos


def _clean_path(path: str, start: int) -> str:
    if not path:
        raise ExpressionError("empty field path", start + 1)
    if path.startswith("event.") and len(path) > len("event."):
        path = path[len("event.") :]
    try:
        return FieldPath(path).dotted  # 'lumbermill.x' is 'gambolputty.x', see event.py
    except ValueError:
        raise ExpressionError(f"invalid field path {path!r}", start + 1) from None


def read_conversion(text: str, pos: int) -> tuple[str | None, int]:
    """Read a printf-style conversion right after a reference; return it and the index after.

    The grammar is Python's ``%`` (flags, width, precision, type) with the types GambolPutty's
    regex knew, ``s``, ``d`` and ``f``. Only what an author plausibly meant as a conversion
    counts; anything else stays text:

    - a precision needs digits: ``$(host).stats`` is text, ``$(name).5s`` a conversion;
    - flags need a width or precision, except ``+`` before ``d``/``f``: ``$(a)-second`` is
      text, ``$(name)-10s`` and ``$(x)+d`` are conversions;
    - a plain ``s`` asks for the value as text.
    """
    match = _CONVERSION.match(text, pos)
    if match is None:
        return None, pos
    flags, width, precision, kind = match.group("flags", "width", "precision", "type")
    if flags and not width and not precision and not ("+" in flags and kind in "df"):
        return None, pos
    return match.group(), match.end()
