"""ZmqSink: send events over ZeroMQ (PUSH or PUB), one message per event."""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any, Final, Literal

import msgpack
from pydantic import Field, field_validator

from gp_celery.event import Batch, Event
from gp_celery.modules.base import Example, Failure, Options, Sink
from gp_celery.modules.parsers.codec import jsonable
from gp_celery.modules.registry import register
from gp_celery.modules.sinks.encoding import encode_text
from gp_celery.modules.types import Template
from gp_celery.modules.zeromq import check_address, endpoint

RETRIABLE_ERRNOS: Final = frozenset(
    {
        errno.EAGAIN,  # the high-water mark is reached, or (PUSH) no peer is connected yet
        errno.EINTR,  # a signal interrupted the send
        errno.EHOSTUNREACH,  # a peer went away; it or another may come back
    }
)
"""Send errors that trying again later can fix. The rest (ETERM: the context is shutting
down; ENOTSUP, EFSM, ENOTSOCK: a bug or a closed socket) go to the dead letters."""


def is_retriable(error_number: int) -> bool:
    """Can sending again later succeed without anyone changing anything?"""
    return error_number in RETRIABLE_ERRNOS


def pack_event(event: Event) -> bytes:
    """An event as msgpack, as GambolPutty's Zmq input reads it: text as str, bytes as bin;
    sets, ints beyond 64 bits and other objects are converted (lists, decimal text, str),
    and text that an input kept as surrogate escapes goes out as the bytes that came in.
    Raises ValueError (or TypeError) for what msgpack cannot hold: a dict that contains
    itself, nesting deeper than 512 levels."""
    packed: bytes = msgpack.packb(
        event, use_bin_type=True, default=jsonable, unicode_errors="surrogateescape"
    )
    return packed


class ZmqSinkOptions(Options):
    server: str = "localhost:5570"
    """'host:port' to connect or bind to ('*:port' binds every interface); a full ZeroMQ
    endpoint such as 'ipc:///run/gp.sock' is used as it is."""
    pattern: Literal["push", "pub"] = "push"
    """push: each event goes to one connected PULL peer; pub: to every SUB peer."""
    mode: Literal["connect", "bind"] = "connect"
    """connect to a peer that binds, or bind (one process only: see the module's notes)."""
    topic: str | None = None
    """pub: sent before each message with a space ('topic payload'), as GambolPutty did."""
    hwm: int | None = Field(default=None, ge=0)
    """Messages queued per peer before sends fail (retried by the runner); None: 1000."""
    format: Template | None = None
    """Send this rendered template as UTF-8 text instead of the msgpack-encoded event."""
    linger_ms: int = Field(default=5000, ge=0)
    """On close, wait this long for queued messages to leave before dropping them."""
    store_interval_in_secs: float = Field(default=5, ge=0)
    """Accepted for GambolPutty configs; the runner's batches are sent as they come."""
    batch_size: int = Field(default=500, ge=1)
    """Accepted for GambolPutty configs; the runner's batches are sent as they come."""
    backlog_size: int = Field(default=500, ge=1)
    """Accepted for GambolPutty configs; backpressure is the listener's job here."""

    @field_validator("server")
    @classmethod
    def _check_server(cls, server: str) -> str:
        return check_address(server)


@register
class ZmqSink(Sink[ZmqSinkOptions]):
    """Send each event as one ZeroMQ message (msgpack, or a template) on PUSH or PUB.

    The default message is the whole event as msgpack (what GambolPutty's Zmq input reads);
    ``format`` sends the rendered template as UTF-8 instead. With ``topic`` each message is
    ``topic + ' ' + payload``, as GambolPutty sent it (SUB peers filter on the prefix).

    Sends never block: when the high-water mark (``hwm``) is reached, or a PUSH socket has no
    peer at all, the events not sent yet are retriable failures and the runner backs off,
    which slows the pipeline down instead of buffering without bound. ZeroMQ gives no
    acknowledgement, so a message handed to the socket counts as written; ``linger_ms``
    bounds how long closing waits for queued messages. PUB drops messages for slow or absent
    subscribers by design: use PUSH where nothing may be lost.

    ``mode: bind`` takes the port in one process only: in a fleet give the node a queue of
    its own served by one worker process (``--concurrency 1``), or let the receiver bind and
    the sink connect (the default). An event msgpack cannot hold (a dict that contains
    itself) is a failure of its own; ints beyond 64 bits go as their decimal text.
    ``store_interval_in_secs``, ``batch_size`` and ``backlog_size`` are accepted and have
    no effect: the runner hands over whole batches.
    """

    aliases = ("output.Zmq",)
    examples = [
        Example(
            options={"server": "localhost:5570", "format": "$(host) $(data)"},
            given=[{"host": "web1", "data": "GET / 200"}, {"host": "web2", "data": "GET /x 404"}],
            expect=[{"data": "web1 GET / 200"}, {"data": "web2 GET /x 404"}],
            note="Pushes one text message per event to the PULL peer bound at port 5570.",
        ),
        Example(
            options={"server": "localhost:5570"},
            given=[{"data": "GET / 200", "http_status": 200}],
            expect=[{"data": "GET / 200", "http_status": 200}],
            note="Pushes each whole event, metadata included, as one msgpack message.",
        ),
    ]

    def setup(self) -> None:
        import zmq

        options = self.options
        self._zmq: Any = zmq
        # The process's shared context: one that a garbage collection could finalize
        # while its socket is still open would block forever in term().
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self._socket = context.socket(zmq.PUSH if options.pattern == "push" else zmq.PUB)
        self._socket.setsockopt(zmq.LINGER, options.linger_ms)
        if options.hwm is not None:
            self._socket.setsockopt(zmq.SNDHWM, options.hwm)
        address = endpoint(options.server)
        if options.mode == "bind":
            self._socket.bind(address)
        else:
            self._socket.connect(address)
        prefix = f"{options.topic} ".encode() if options.topic else b""
        self._encode: Callable[[Event], bytes]
        if options.format is not None:
            render = options.format.render
            self._encode = lambda event: prefix + encode_text(render(event))
        else:
            self._encode = (lambda event: prefix + pack_event(event)) if prefix else pack_event

    def write(self, events: Batch) -> list[Failure]:
        zmq, send, encode = self._zmq, self._socket.send, self._encode
        failures = []
        for index, event in enumerate(events):
            try:
                message = encode(event)
            except (ValueError, TypeError, OverflowError) as error:
                failures.append(Failure(index, f"cannot encode the event: {error}", False))
                continue
            try:
                send(message, zmq.NOBLOCK)
            except zmq.ZMQError as error:
                return failures + self._unsent(events, index, error)
        return failures

    def _unsent(self, events: Batch, start: int, error: Any) -> list[Failure]:
        """The events from ``start`` on, which were not sent because of ``error``."""
        retriable = is_retriable(error.errno)
        reason = (
            "ZeroMQ send queue is full or no peer is connected"
            if error.errno == errno.EAGAIN
            else f"ZeroMQ send failed: {error}"
        )
        self.warn_limited(
            "send",
            "%s (%s); %s.",
            reason,
            self.options.server,
            "the events are retried" if retriable else "the events go to the dead letters",
        )
        return [Failure(index, reason, retriable) for index in range(start, len(events))]

    def close(self) -> None:
        self._socket.close()  # the context sends queued messages for up to linger_ms
