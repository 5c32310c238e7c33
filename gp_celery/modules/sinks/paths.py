"""Sink paths (FileSink, WebHdfsSink): strftime (UTC) on the literal text, then $(field), checked
(``strftime_literals``, shared with other sinks, says how strftime spares field references).
"""

from __future__ import annotations

import time
from typing import Any

from gp_celery import expressions
from gp_celery.event import field_path
from gp_celery.modules.sinks.timed_template import strftime_literals


def _field_names(template: expressions.Template) -> list[str]:
    return [name if isinstance(name, str) else name.dotted for name in template.fields]


def _probe_event(template: expressions.Template) -> dict[str, Any]:
    """An event in which every referenced field holds 'x': shows the path's own structure."""
    probe: dict[str, Any] = {}
    for name in _field_names(template):
        try:
            field_path(name).set(probe, "x")
        except (TypeError, ValueError, IndexError):
            continue  # a path through a list index: that component stays as rendered
    return probe


class PathTemplate:
    """The compiled file_name for the current second, and the safety check of its paths."""

    def __init__(self, file_name: str) -> None:
        self.file_name = file_name
        self._second = -1
        self._text = ""
        self.template = expressions.compile_template("")
        self._dot_dots = 0
        self._empties = 0

    def at(self, now: float) -> expressions.Template:
        """The template with strftime applied for ``now`` (recompiled only when it changes)."""
        second = int(now)
        if second != self._second:
            self._second = second
            text = strftime_literals(self.file_name, time.gmtime(second))
            if text != self._text:
                self._text, self.template = text, expressions.compile_template(text)
                parts = self.template.render(_probe_event(self.template)).split("/")
                self._dot_dots, self._empties = parts.count(".."), parts[1:].count("")
        return self.template

    def problem(self, path: str) -> str | None:
        """Why a rendered path must not be written, or None when it is fine.

        The configured text may use '..' and '//' itself; more of them than it has can only
        come from event data: a value '../../etc' must not leave the configured directory,
        and a missing or empty field must not silently drop a directory level.
        """
        if "\0" in path:
            return "file_name: a field value holds a NUL byte"
        parts = path.split("/")
        if parts.count("..") > self._dot_dots:
            return "file_name: a field value put '..' into the path; refusing to write there"
        if parts[1:].count("") > self._empties:
            return "file_name: a field is missing or empty, leaving an empty path component"
        return None
