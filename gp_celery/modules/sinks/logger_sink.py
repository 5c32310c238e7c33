"""LoggerSink: log rendered lines per event through Python logging."""

from __future__ import annotations

import logging
from typing import Final, Literal

from pydantic import Field

from gp_celery.event import Batch
from gp_celery.modules.base import Example, Failure, Options, Sink
from gp_celery.modules.registry import register
from gp_celery.modules.sinks.payloads import ENCODE_ERRORS
from gp_celery.modules.types import Template

LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


class LoggerSinkOptions(Options):
    formats: list[Template] = Field(min_length=1)
    """Lines to log per event, e.g. ['Received events in $(interval)s: $(total_count)']."""
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    """Level the lines are logged at."""
    max_line_chars: int = Field(default=65536, ge=1)
    """An event with a longer rendered line fails (not retried) instead of flooding the log."""


@register
class LoggerSink(Sink[LoggerSinkOptions]):
    """Log each event's rendered ``formats`` lines, one log record per line.

    Records go to the logger ``gp_celery.sink.LoggerSink`` at ``level`` (info), where
    gp-celery's log goes (stderr, or a worker's log file), and carry the node's id in
    ``extra`` as ``node``. A line that renders empty is left out, as in GambolPutty. An
    event with a line longer than ``max_line_chars``, or a value that cannot be shown (an
    int of more than 4300 digits), fails alone and is not retried; nothing of it is logged.
    GambolPutty logged through its module's logger at info; ``level`` and
    ``max_line_chars`` are new.
    """

    aliases = ("output.Logger",)
    examples = [
        Example(
            options={"formats": ["Received events in $(interval)s: $(total_count)"]},
            given=[{"interval": 10, "total_count": 1234}],
            expect=[{"data": "Received events in 10: 1234"}],
            note="Logs the line 'Received events in 10: 1234' at info.",
        ),
    ]

    def setup(self) -> None:
        self._level = LEVELS[self.options.level]

    def write(self, events: Batch) -> list[Failure]:
        failures: list[Failure] = []
        limit = self.options.max_line_chars
        for index, event in enumerate(events):
            try:
                lines = [text for form in self.options.formats if (text := form.render(event))]
            except ENCODE_ERRORS as error:
                failures.append(Failure(index, f"cannot render the event: {error}", False))
                continue
            longest = max((len(line) for line in lines), default=0)
            if longest > limit:
                reason = f"a line is {longest} characters, more than max_line_chars ({limit})"
                failures.append(Failure(index, reason, False))
                continue
            for line in lines:
                self.log.log(self._level, "%s", line, extra={"node": self.node_id})
        return failures
