"""GraphiteSink: send metric lines to Carbon over its plaintext protocol."""

from __future__ import annotations

import math
import socket
import time

from pydantic import Field

from gp_celery.event import Batch, Event
from gp_celery.modules.base import Example, Failure, Options, Sink
from gp_celery.modules.registry import register
from gp_celery.modules.sinks.payloads import ENCODE_ERRORS, describe
from gp_celery.modules.sinks.sockets import Link, is_retriable, open_inet
from gp_celery.modules.types import Template


class GraphiteSinkOptions(Options):
    server: str = "localhost"
    """Carbon host (carbon-cache or carbon-relay) to connect to."""
    port: int = Field(default=2003, ge=1, le=65535)
    """Carbon's plaintext (line receiver) port."""
    formats: list[Template] = Field(min_length=1)
    """One metric per template: 'path value', e.g. 'gambolputty.stats.rate_$(interval)s $(rate)'."""
    timeout_secs: float = Field(default=10, gt=0)
    """Connect and send timeout; a batch that times out is retried."""
    store_interval_in_secs: float = Field(default=5, ge=0)
    """Accepted for GambolPutty configs; every batch is sent as it comes."""
    batch_size: int = Field(default=50, ge=1)
    """Accepted for GambolPutty configs; the runner's batches are sent as they come."""
    backlog_size: int = Field(default=50, ge=1)
    """Accepted for GambolPutty configs; backpressure is the listener's job here."""


def metric_line(text: str, now: int) -> bytes:
    """'path value' (or 'path value timestamp') -> b'path value timestamp\\n'.

    Raises ValueError when the text is not a metric Carbon would store: not two or three
    words, a value or timestamp that is not a finite number, a path with control characters.
    """
    parts = text.split()
    if len(parts) not in (2, 3):
        raise ValueError(f"expected 'path value' or 'path value timestamp', got {text[:200]!r}")
    path = parts[0]
    _number(parts[1], "value", text)
    if not path.isprintable():
        raise ValueError(f"the metric path has control characters: {path[:200]!r}")
    stamp = int(_number(parts[2], "timestamp", text)) if len(parts) == 3 else now
    return f"{path} {parts[1]} {stamp}\n".encode()


def _number(word: str, what: str, text: str) -> float:
    try:
        number = float(word)
    except ValueError:
        raise ValueError(f"the {what} is not a number in {text[:200]!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"the {what} is not a finite number in {text[:200]!r}")
    return number


@register
class GraphiteSink(Sink[GraphiteSinkOptions]):
    """Send one Carbon metric per event and template: 'path value timestamp' over TCP.

    Each template in ``formats`` renders 'path value' and gets the time of the write (unix
    seconds) appended; one that renders 'path value timestamp' keeps its own timestamp. A
    template with a missing field sends nothing for that event (counted as
    ``skipped_lines``): a stats event without a 400 count has no metric for it. A line that
    is not a metric (a value that is not a finite number, a path with a space) fails its
    event alone, which sends none of its lines and goes to the dead letters.

    A batch goes in one send on a connection kept open between batches. A Carbon that is
    down, restarting or slow makes the batch retriable; a connection Carbon closed between
    batches is noticed and reopened before sending. Carbon acknowledges nothing, so a retry
    after a connection broke mid-batch may send points twice: the same path and timestamp
    simply overwrite. GambolPutty sent only the first line of each buffered batch (a
    ``return`` inside its loop), retried five times sleeping 5 s, then shut down, and sent a
    template with a missing field as raw text, which Carbon discarded.
    ``store_interval_in_secs``, ``batch_size`` and ``backlog_size`` are accepted and have
    no effect (the runner hands over whole batches).
    """

    aliases = ("output.Graphite",)
    examples = [
        Example(
            options={
                "server": "localhost",
                "formats": ["gambolputty.stats.http_200_$(interval)s $(field_counts.200)"],
            },
            given=[{"interval": 10, "field_counts": {"200": 512}}],
            expect=[{"data": "gambolputty.stats.http_200_10 512"}],
            note="Sends 'gambolputty.stats.http_200_10 512 <now>' to localhost:2003.",
        ),
    ]

    def setup(self) -> None:
        options = self.options
        host, port, timeout = options.server, options.port, options.timeout_secs
        self._link = Link(lambda: open_inet(host, port, socket.SOCK_STREAM, timeout))

    def _lines(self, event: Event, now: int) -> list[bytes]:
        lines: list[bytes] = []
        for template in self.options.formats:
            text = template.try_render(event)
            if text is None:
                self.stats.incr("skipped_lines")
            else:
                lines.append(metric_line(text, now))
        return lines

    def write(self, events: Batch) -> list[Failure]:
        now = int(time.time())
        failures: list[Failure] = []
        sent: list[int] = []
        payload = bytearray()
        for index, event in enumerate(events):
            try:
                lines = self._lines(event, now)
            except ENCODE_ERRORS as error:
                failures.append(Failure(index, f"not a metric: {error}", False))
                continue
            if lines:
                sent.append(index)
                payload += b"".join(lines)
        if not payload:
            return failures
        try:
            self._link.send_stream(bytes(payload))
        except OSError as error:
            reason, retriable = describe(error), is_retriable(error)
            failures += [Failure(index, reason, retriable) for index in sent]
        return failures

    def close(self) -> None:
        self._link.close()
