"""What message sinks share: one payload per event (a rendered template or the event's JSON),
with a size cap, and the events that cannot become one as non-retriable failures.

Used by RedisListSink, RedisChannelSink, UdpSink, SyslogSink and LoggerSink: each sends one
message per event, so one odd event (a dict that contains itself, an int of 5000 digits, a
value of a gigabyte) must fail alone, with its reason, and never the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from gp_celery import expressions
from gp_celery.event import Event
from gp_celery.modules.base import Failure
from gp_celery.modules.sinks.encoding import encode_text, json_line

ENCODE_ERRORS = (TypeError, ValueError, RecursionError)
"""What rendering or JSON-encoding an event can raise: values JSON cannot hold, an int too
long for str(), absurd nesting. Never worth a retry: the same event fails the same way."""

Payloads = tuple[list[tuple[int, bytes]], list[Failure]]
"""(index in the batch, payload) for every event that could be encoded, and failures."""


def event_payloads(
    events: Sequence[Event],
    template: expressions.Template | None,
    max_bytes: int,
    limit_name: str,
    overhead: int = 0,
) -> Payloads:
    """Each event as bytes: the rendered ``template`` (UTF-8), else the event as compact JSON.

    An event that cannot be encoded, or whose payload plus the ``overhead`` the sink adds
    (a header, a newline) is longer than ``max_bytes`` (named ``limit_name`` in the reason,
    so the user knows which option to raise), is a non-retriable failure; the others go on.
    """
    good: list[tuple[int, bytes]] = []
    failures: list[Failure] = []
    for index, event in enumerate(events):
        try:
            payload = (
                encode_text(template.render(event)) if template is not None else json_line(event)
            )
        except ENCODE_ERRORS as error:
            failures.append(Failure(index, f"cannot encode the event: {error}", False))
            continue
        if len(payload) + overhead > max_bytes:
            reason = oversize(len(payload) + overhead, max_bytes, limit_name)
            failures.append(Failure(index, reason, False))
            continue
        good.append((index, payload))
    return good, failures


def describe(error: Exception) -> str:
    """An error as a failure reason: its type and message."""
    return f"{type(error).__name__}: {error}"


def oversize(size: int, limit: int, limit_name: str) -> str:
    return f"the message is {size} bytes, more than {limit_name} ({limit})"


def parse_address(text: str, default_port: int | None = None) -> tuple[str, int]:
    """'host:port', '[2001:db8::1]:port', '192.0.2.1:514' -> (host, port); a bare host takes
    ``default_port`` when there is one. Raises ValueError saying what is wrong."""
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"expected '[address]:port', got {text!r}")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise ValueError(f"no host in {text!r}")
    if not port_text:
        if default_port is None:
            raise ValueError(f"expected 'host:port', got {text!r}")
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad port in {text!r}: expected 1-65535")
    return host, int(port_text)
