"""Sink names with strftime and $(field): file names, index names, routing keys.

strftime (UTC) runs only on the text between field references, so neither ``$(field)`` nor
GambolPutty's ``%(field)s`` can be mangled by it, and a field value is never seen by
strftime at all (a '%' in an event's host name stays a '%').
"""

from __future__ import annotations

import re
import time
from typing import Final

from gp_celery import expressions

_REFERENCE: Final = re.compile(r"[$%]\([^)]*\)")


def strftime_literals(text: str, when: time.struct_time) -> str:
    """Apply strftime to the parts of ``text`` that are not field references."""
    parts, position = [], 0
    for match in _REFERENCE.finditer(text):
        parts.append(time.strftime(text[position : match.start()], when))
        parts.append(match.group())
        position = match.end()
    parts.append(time.strftime(text[position:], when))
    return "".join(parts)


def literal_text(text: str) -> str:
    """``text`` without its field references: what the configuration itself says."""
    return _REFERENCE.sub("", text)


def check_timed_template(text: str) -> str:
    """Raise ValueError (with the reason) when strftime or the template cannot compile."""
    try:
        expressions.compile_template(strftime_literals(text, time.gmtime()))
    except (ValueError, expressions.ExpressionError) as error:
        raise ValueError(str(error)) from None
    return text


class TimedTemplate:
    """A template whose literal text gets strftime (UTC) for the current second; compiled
    again only when that text changes (once a day for ``%Y.%m.%d``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._second = -1
        self._rendered = ""
        self.template = expressions.compile_template("")

    def at(self, now: float) -> expressions.Template:
        second = int(now)
        if second != self._second:
            self._second = second
            rendered = strftime_literals(self.text, time.gmtime(second))
            if rendered != self._rendered:
                self._rendered, self.template = rendered, expressions.compile_template(rendered)
        return self.template
