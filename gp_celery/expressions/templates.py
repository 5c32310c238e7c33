"""``$(field)`` templates, parsed once into literal and field parts.

A missing field renders as '' (never GambolPutty's internal ``%(x)s`` form, CORE 3.2).
``%(path)`` is the older spelling of ``$(path)``. A printf-style conversion right after a
reference formats the value, as both generations did; see ``Template`` for the exact rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from gp_celery.event import MISSING, Event, field_path
from gp_celery.expressions.lexer import read_conversion, read_field_ref
from gp_celery.expressions.nodes import Getter, fast_getter

_OPENER: Final = re.compile(r"[$%]\(")
_FORMAT_ERRORS: Final = (TypeError, ValueError, OverflowError)


class Template:
    """A string with field references, rendered per event.

    ``$(path)`` and ``%(path)`` are references. A conversion right after one formats the value
    with Python's ``%`` operator: ``$(bytes)d``, ``$(ratio).2f``, ``$(x)06.2f``,
    ``$(name)-10s``, ``$(name).5s``, ``$(x)+d``. GambolPutty's regex
    (``-?\\d*[-.*]?\\d*[sdf]?``) knew the types ``s``, ``d`` and ``f`` only, so those are the
    types here, and ``$(host)is up`` renders ``web1is up`` as it did there. Where that regex
    swallowed text its authors did not mean as a conversion, the text stays:

    - a precision needs digits: ``$(host).stats`` is ``web1.stats`` (GambolPutty: ``tats``);
    - flags need a width or precision, except ``+`` before ``d``/``f``: ``$(a)-second`` is
      ``A-second``, ``$(a)-$(b)`` is ``A-B``;
    - every reference has its own conversion (GambolPutty applied the first one's to all).

    A plain ``s``, ``d`` or ``f`` right after a reference is always a conversion:
    ``event_rate_$(interval)s`` renders ``event_rate_10``. To follow a reference with one of
    those letters as text, give it the ``s`` conversion first: ``$(n)sd`` renders ``5d``.
    A lone ``$(x)`` keeps the value's type where an option takes any value (``add_fields``);
    ``$(x)s`` asks for its text.

    ``d`` and ``f`` format numeric text as its number (``'3395'`` with ``d``), since parsers
    yield text. A value that still cannot be formatted (``'abc'`` with ``d``) renders
    unformatted and is counted in ``errors`` with the reason in ``last_error``, like a failing
    filter: templates feed option values, where raising would fail a whole batch.
    """

    __slots__ = ("fields", "is_constant", "source")

    def __init__(self, source: str, fields: tuple[str, ...]) -> None:
        self.source = source
        self.fields = fields
        self.is_constant = not fields

    def render(self, event: Event) -> str:
        """The text with each reference replaced; a missing field renders as ''."""
        raise NotImplementedError

    def try_render(self, event: Event) -> str | None:
        """The text, or None when any referenced field is missing."""
        raise NotImplementedError

    def value(self, event: Event) -> Any:
        """The raw value for a lone ``$(x)`` (MISSING if absent), else the rendered text."""
        return self.render(event)

    @property
    def errors(self) -> int:
        """How many values could not be formatted with their conversion."""
        return 0

    @property
    def last_error(self) -> str | None:
        return None

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and other.source == self.source

    def __hash__(self) -> int:
        return hash((Template, self.source))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return compile_template, (self.source,)


class _Constant(Template):
    __slots__ = ()

    def render(self, event: Event) -> str:
        return self.source

    def try_render(self, event: Event) -> str | None:
        return self.source


class _Single(Template):
    """Exactly one reference and nothing else: ``value`` keeps the type."""

    __slots__ = ("_get",)

    def __init__(self, source: str, path: str) -> None:
        super().__init__(source, (path,))
        self._get = fast_getter(field_path(path))

    def render(self, event: Event) -> str:
        found = self._get(event)
        if found is MISSING:
            return ""
        return found if type(found) is str else str(found)

    def try_render(self, event: Event) -> str | None:
        found = self._get(event)
        if found is MISSING:
            return None
        return found if type(found) is str else str(found)

    def value(self, event: Event) -> Any:
        return self._get(event)


class _Formatted:
    """A reference with a conversion: returns the formatted text, or MISSING."""

    __slots__ = ("_format", "_get", "_number", "errors", "last_error", "reference")

    def __init__(self, get: Getter, reference: str, conversion: str) -> None:
        self._get = get
        self._format = "%" + conversion
        self._number: Callable[[str], Any] | None = (
            _number if conversion[-1] == "d" else float if conversion[-1] == "f" else None
        )
        self.reference = reference
        self.errors = 0
        self.last_error: str | None = None

    def __call__(self, event: Event) -> Any:
        found = self._get(event)
        if found is MISSING:
            return MISSING
        try:
            return self._format % (found,)
        except _FORMAT_ERRORS:
            return self._numeric_or_plain(found)

    def _numeric_or_plain(self, found: Any) -> str:
        if self._number is not None and isinstance(found, str):
            try:
                return self._format % (self._number(found),)
            except _FORMAT_ERRORS:
                pass
        self.errors += 1
        text = found if type(found) is str else str(found)
        self.last_error = f"{self.reference}: cannot format {text[:60]!r}; rendered unformatted"
        return text


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


class _Mixed(Template):
    """Literal text and references; literal parts are str, references getters."""

    __slots__ = ("_formatted", "_parts")

    def __init__(self, source: str, fields: tuple[str, ...], parts: list[str | Getter]) -> None:
        super().__init__(source, fields)
        self._parts = tuple(parts)
        self._formatted = tuple(part for part in parts if isinstance(part, _Formatted))

    def render(self, event: Event) -> str:
        return "".join([_text(part(event)) if callable(part) else part for part in self._parts])

    def try_render(self, event: Event) -> str | None:
        chunks: list[str] = []
        for part in self._parts:
            if callable(part):
                found = part(event)
                if found is MISSING:
                    return None
                chunks.append(found if type(found) is str else str(found))
            else:
                chunks.append(part)
        return "".join(chunks)

    @property
    def errors(self) -> int:
        return sum(part.errors for part in self._formatted)

    @property
    def last_error(self) -> str | None:
        return next((p.last_error for p in self._formatted if p.last_error), None)


def _text(found: Any) -> str:
    if found is MISSING:
        return ""
    return found if type(found) is str else str(found)


def compile_template(text: str) -> Template:
    """Parse ``text`` into parts; raises ExpressionError for ``$(`` unclosed or empty."""
    parts: list[str | Getter] = []
    fields: dict[str, None] = {}
    conversion: str | None = None
    pos = 0
    while match := _OPENER.search(text, pos):
        start = match.start()
        path, end = read_field_ref(text, start)
        conversion, end = read_conversion(text, end)
        if start > pos:
            parts.append(text[pos:start])
        get = fast_getter(field_path(path))
        plain = conversion in (None, "s")  # 's' is what rendering does anyway: no % call
        parts.append(get if plain else _Formatted(get, text[start:end], conversion or ""))
        fields[path] = None
        pos = end
    if pos < len(text):
        parts.append(text[pos:])
    if not fields:
        return _Constant(text, ())
    if len(parts) == 1 and conversion is None:
        return _Single(text, next(iter(fields)))
    return _Mixed(text, tuple(fields), parts)


class _Typed(Template):
    """A configured value that is not a string: kept with its YAML type; strings inside lists
    and maps (keys too) are templates rendered as text, and every call builds a fresh copy,
    so no two events share a list."""

    __slots__ = ("_build", "_raw")

    def __init__(self, raw: Any) -> None:
        fields: dict[str, None] = {}
        self._raw = raw
        self._build = _builder(raw, fields)
        super().__init__(repr(raw), tuple(fields))

    def render(self, event: Event) -> str:
        return str(self._build(event))

    def try_render(self, event: Event) -> str | None:
        return self.render(event)

    def value(self, event: Event) -> Any:
        return self._build(event)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Typed) and other.source == self.source

    def __hash__(self) -> int:
        return hash((_Typed, self.source))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return compile_value, (self._raw,)


def _builder(raw: Any, fields: dict[str, None]) -> Callable[[Event], Any]:
    if isinstance(raw, str):
        template = compile_template(raw)
        fields.update(dict.fromkeys(template.fields))
        return template.render
    if isinstance(raw, list):
        items = [_builder(item, fields) for item in raw]
        return lambda event: [build(event) for build in items]
    if isinstance(raw, dict):
        pairs = [(_builder(key, fields), _builder(item, fields)) for key, item in raw.items()]
        return lambda event: {key(event): build(event) for key, build in pairs}
    return lambda _event: raw  # None, bool, int, float, dates: immutable


def compile_value(raw: Any) -> Template:
    """A configured value rendered per event (``add_fields``): a string is a template, any
    other YAML value keeps its type (``True``, ``5``, ``null``, lists, maps); see _Typed."""
    if isinstance(raw, str):
        return compile_template(raw)
    return _Typed(raw)
