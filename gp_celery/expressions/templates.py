"""``$(field)`` templates, parsed once into literal and field parts.

Unlike GambolPutty, a missing field renders as '' (never the internal ``%(x)s`` form, CORE 3.2)
and there is no printf suffix: ``$(bytes)d`` is the value followed by a literal 'd', because
the suffix rule silently ate letters (``$(host)is up``). ``%(path)s`` is LumberMill's notation.
"""

from __future__ import annotations

import re
from typing import Any, Final

from gp_celery.event import MISSING, Event, field_path
from gp_celery.expressions.errors import ExpressionError
from gp_celery.expressions.lexer import read_field_ref
from gp_celery.expressions.nodes import Getter, fast_getter

_OPENER: Final = re.compile(r"[$%]\(")


class Template:
    """A string with field references, rendered per event."""

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

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and other.source == self.source

    def __hash__(self) -> int:
        return hash((Template, self.source))

    def __reduce__(self) -> tuple[Any, tuple[str]]:
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


class _Mixed(Template):
    """Literal text and references; literal parts are str, references getters."""

    __slots__ = ("_parts",)

    def __init__(self, source: str, fields: tuple[str, ...], parts: list[str | Getter]) -> None:
        super().__init__(source, fields)
        self._parts = tuple(parts)

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


def _text(found: Any) -> str:
    if found is MISSING:
        return ""
    return found if type(found) is str else str(found)


def compile_template(text: str) -> Template:
    """Parse ``text`` into parts; raises ExpressionError for ``$(`` unclosed or empty."""
    parts: list[str | Getter] = []
    fields: dict[str, None] = {}
    pos = 0
    while match := _OPENER.search(text, pos):
        start = match.start()
        path, end = read_field_ref(text, start)
        if text[start] == "%":
            if text[end : end + 1] != "s":
                raise ExpressionError("only the %(field)s form is supported", start + 1)
            end += 1
        if start > pos:
            parts.append(text[pos:start])
        parts.append(fast_getter(field_path(path)))
        fields[path] = None
        pos = end
    if pos < len(text):
        parts.append(text[pos:])
    if not fields:
        return _Constant(text, ())
    if len(parts) == 1:
        return _Single(text, next(iter(fields)))
    return _Mixed(text, tuple(fields), parts)
