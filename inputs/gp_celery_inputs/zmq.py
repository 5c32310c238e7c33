"""Zmq: receive ZeroMQ messages (PULL or SUB); each message is an event."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any, Final, Literal

from pydantic import Field, field_validator

from gp_celery.framing import DEFAULT_MAX_LINE_BYTES, Framing, Piece
from gp_celery.modules.base import Emit, Example, Input, Options
from gp_celery.modules.registry import register
from gp_celery.modules.zeromq import check_address, endpoint

BATCH_MESSAGES: Final = 500
"""Messages taken off the socket at once, once one has arrived."""
DEFAULT_RECEIVE_HWM: Final = 1000
"""libzmq's own default: messages queued on our side before a PUSH peer blocks (PUB drops)."""
MAX_WIRE_MESSAGE_BYTES: Final = 64 << 20
"""libzmq drops the connection of a peer that sends a message larger than this, so one
peer cannot make the listener buffer gigabytes before ``max_message_bytes`` truncates it."""


class ZmqOptions(Options):
    mode: Literal["server", "client"] = "server"
    """server: bind the address (peers connect); client: connect to a peer that binds."""
    address: str = "*:5570"
    """'host:port' to bind or connect ('*:port' binds every interface, port 0 a free port);
    a full ZeroMQ endpoint such as 'ipc:///run/gp.sock' is used as it is."""
    pattern: Literal["pull", "sub"] = "pull"
    """pull: take messages from PUSH peers (nothing is dropped; peers wait when we are
    behind); sub: subscribe to PUB peers (ZeroMQ drops what a slow subscriber misses)."""
    topic: str = ""
    """sub: subscribe to messages that start with this prefix ('' means every message);
    the prefix (and one space after it) is stripped from data."""
    separator: str | None = Field(default=None, min_length=1)
    """ZmqTornado's option: data is what follows the first separator in a message (the
    head, a topic, is dropped); a message without it is kept whole."""
    hwm: int | None = Field(default=None, ge=0)
    """Messages queued on our side while the pipeline is behind (None: 1000)."""
    max_message_bytes: int = Field(default=DEFAULT_MAX_LINE_BYTES, ge=1, le=MAX_WIRE_MESSAGE_BYTES)
    """Longer text messages are truncated to this many bytes and tagged (default 1 MiB);
    a msgpack object is kept whole."""
    decoding: Literal["msgpack"] | None = None
    """'msgpack': each message is one msgpack object (what ZmqSink sends by default); a
    map's keys become the event's fields. Without it, a message is text in data."""

    @field_validator("address")
    @classmethod
    def _check_address(cls, address: str) -> str:
        return check_address(address, port_zero=True)


Message = tuple[str, bytes]
"""Who sent it (the peer's IP address where ZeroMQ knows it) and the record."""


@register
class Zmq(Input[ZmqOptions]):
    """Receive ZeroMQ messages from PUSH or PUB peers; each message is one event.

    A message is a record, as a UDP datagram is: invalid UTF-8 is replaced and tagged, and
    messages longer than ``max_message_bytes`` are truncated and tagged (libzmq itself
    refuses messages over 64 MiB by closing that peer's connection). ``received_from`` is
    the sending peer's IP address (the address option for ipc:// and other transports).

    A multipart message is one event: its frames are joined without a separator. For SUB,
    the modern convention of a topic in a frame of its own holds too: in a message of
    several frames the first one is the topic and is left out of data. A one-frame message
    loses the configured ``topic`` prefix and one space after it (``topic payload``, as
    ZmqSink and GambolPutty's senders publish). ZmqSink's default messages are msgpack: a
    Zmq that feeds a MsgPackParser (GambolPutty's shape) hands each message over whole,
    its bytes kept; ``decoding: msgpack`` instead reads each message as one msgpack object
    right away and tags a message that is not one.

    Backpressure: while the pipeline is behind, messages wait in ZeroMQ's queue (``hwm``);
    beyond it a PUSH peer waits and a PUB peer drops them (ZeroMQ's design for PUB/SUB).
    When the input stops, the messages that have already arrived are sent on.
    Differences from GambolPutty: it split every SUB message at its first space and put
    the head in a ``topic`` field, and crashed on a message without a space; here only the
    configured topic is stripped (add a ``topic`` field with ``add_fields`` if needed), so
    a subscriber to every topic (``''``) gets messages whole. ``mode: server`` binds the
    address in one process: like every input, it runs in the listener.

    LumberMill's ``ZmqTornado`` is this module (listeners need no IOLoop); its
    ``separator`` option works as there, except that a message without the separator is
    kept whole instead of raising.
    """

    aliases = ("input.ZeroMQ", "input.Zmq", "ZeroMQ", "ZmqTornado", "input.ZmqTornado")
    bound_port: int | None = None
    _zmq: Any = None
    examples = [
        Example(
            options={"mode": "server", "address": "*:5570", "pattern": "pull"},
            given=[{"data": "GET / 200"}, {"data": b"bad \xff"}],
            expect=[{"data": "GET / 200"}, {"data": "bad \ufffd"}],
            note="Each message PUSHed to port 5570 is one event; invalid UTF-8 is tagged.",
        ),
        Example(
            options={"address": "127.0.0.1:5570", "decoding": "msgpack"},
            given=[{"data": b"\x82\xa4data\xa9GET / 200\xa6status\xcc\xc8"}],
            expect=[{"data": "GET / 200", "status": 200}],
            note="A msgpack map (ZmqSink's default message) becomes the event's fields.",
        ),
    ]

    def default_framing(self) -> Framing:
        options = self.options
        if options.decoding == "msgpack":
            return Framing(
                kind="msgpack",
                decode_objects=True,
                max_record_bytes=options.max_message_bytes,
                option="max_message_bytes",
            )
        return Framing(
            kind="datagram",
            max_record_bytes=options.max_message_bytes,
            option="max_message_bytes",
        )

    async def serve(self, emit: Emit) -> None:
        import zmq
        import zmq.asyncio

        options = self.options
        self._zmq = zmq
        context = zmq.asyncio.Context()
        sock = context.socket(zmq.PULL if options.pattern == "pull" else zmq.SUB)
        hwm = DEFAULT_RECEIVE_HWM if options.hwm is None else options.hwm
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RCVHWM, hwm)
            sock.setsockopt(zmq.MAXMSGSIZE, MAX_WIRE_MESSAGE_BYTES)
            if options.pattern == "sub":
                sock.setsockopt(zmq.SUBSCRIBE, options.topic.encode())
            where = self._attach(zmq, sock)
            self.log.info("%s: %s; receiving (%s).", self.label, where, options.pattern)
            try:
                while True:
                    first = self._message(await sock.recv_multipart(copy=False))
                    await emit(self._pieces(await self._take(zmq, sock, [first], BATCH_MESSAGES)))
            finally:  # received already (the peer counts them as sent): send them on
                if waiting := await self._take(zmq, sock, [], hwm + BATCH_MESSAGES):
                    await emit(self._pieces(waiting))
        finally:
            sock.close(linger=0)
            context.term()

    def _attach(self, zmq: Any, sock: Any) -> str:
        """Bind or connect; say where, naming the port a bind to port 0 took."""
        address = endpoint(self.options.address)
        try:
            if self.options.mode == "server":
                sock.bind(address)
            else:
                sock.connect(address)
        except zmq.ZMQError as error:
            verb = "bind" if self.options.mode == "server" else "connect to"
            raise OSError(error.errno, f"{self.label}: cannot {verb} {address}: {error}") from None
        if self.options.mode == "client":
            return f"connecting to {address}"
        bound = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        port = bound.rpartition(":")[2]
        self.bound_port = int(port) if port.isdigit() else None
        return f"listening on {bound} (port {port})"

    async def _take(self, zmq: Any, sock: Any, messages: list[Message], most: int) -> list[Message]:
        """Add the messages that have arrived, without waiting, up to ``most`` in all."""
        while len(messages) < most:
            try:
                frames = await sock.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            messages.append(self._message(frames))
        return messages

    def _message(self, frames: list[Any]) -> Message:
        sender = ""
        with contextlib.suppress(self._zmq.ZMQError):  # no peer address (ipc://, inproc://)
            sender = frames[0].get("Peer-Address")
        parts = [frame.bytes for frame in frames]
        if self.options.pattern == "sub":
            if len(parts) > 1:
                parts = parts[1:]  # the topic frame
            elif topic := self.options.topic.encode():
                record = parts[0].removeprefix(topic)
                parts = [record[1:] if record.startswith(b" ") else record]
        record = b"".join(parts)
        if self.options.separator is not None:
            _topic, found, rest = record.partition(self.options.separator.encode())
            record = rest if found else record
        return sender or self.options.address, record

    @staticmethod
    def _pieces(messages: list[Message]) -> list[Piece]:
        """One piece per run of messages from the same peer (sizes keep them apart)."""
        pieces = []
        for sender, group in itertools.groupby(messages, key=lambda item: item[0]):
            run = [data for _, data in group]
            pieces.append(Piece(sender, b"".join(run), tuple(map(len, run))))
        return pieces
