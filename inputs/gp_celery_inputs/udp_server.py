"""UdpServer: receive datagrams; each one is an event."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from typing import Any, Final

from pydantic import Field

from gp_celery.framing import Framing, Piece
from gp_celery.modules.base import Emit, Example, Input, Options
from gp_celery.modules.registry import register

QUEUED_DATAGRAMS: Final = 10_000
QUEUED_BYTES: Final = 32 << 20
"""Datagrams wait here while emit() applies backpressure; beyond either bound they are dropped."""
BATCH_DATAGRAMS: Final = 500
RECEIVE_BUFFER_BYTES: Final = 4 << 20
"""Asked of the kernel (capped at net.core.rmem_max) so bursts are not dropped before we read."""
DROP_WARNING_SECS: Final = 10.0


class UdpServerOptions(Options):
    interface: str = "0.0.0.0"  # noqa: S104 - GambolPutty's default: listen on all interfaces
    """Address to listen on."""
    port: int = Field(5151, ge=0, le=65535)
    """Port to listen on (0 picks a free port; see bound_port)."""
    timeout: float | None = None
    """Accepted for GambolPutty configs and unused (it was a socket timeout there)."""
    max_datagram_bytes: int = Field(65535, ge=1)
    """Longer datagrams are truncated to this many bytes and tagged."""


_Datagram = tuple[bytes, tuple[Any, ...]]


class _Receiver(asyncio.DatagramProtocol):
    """Queues datagrams for serve(); counts what does not fit, since UDP cannot wait."""

    def __init__(self, server: UdpServer) -> None:
        self.server = server
        self.queue: asyncio.Queue[_Datagram] = asyncio.Queue(QUEUED_DATAGRAMS)
        self.queued_bytes = 0

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if self.queue.full() or self.queued_bytes + len(data) > QUEUED_BYTES:
            self.server.dropped()
            return
        self.queued_bytes += len(data)
        self.queue.put_nowait((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.server.log.info("%s: socket error: %s.", self.server.label, exc)


@register
class UdpServer(Input[UdpServerOptions]):
    """Receive UDP datagrams; each datagram, stripped, is one event.

    ``received_from`` is "ip:port" of the sender. Invalid UTF-8 is replaced and the event
    tagged; datagrams longer than ``max_datagram_bytes`` are truncated and tagged; an empty
    datagram is an (empty) event, as in GambolPutty. UDP cannot be slowed down: while the
    pipeline is behind, datagrams queue up to 10,000 datagrams / 32 MiB, and beyond that
    they are dropped and counted ("dropped_datagrams") with a rate-limited warning.
    """

    aliases = ("input.Udp", "input.UdpServer")
    bound_port: int | None = None
    examples = [
        Example(
            options={"port": 5151},
            given=[{"data": "<13>Dec  1 10:00:00 host app: hello\n"}],
            expect=[{"data": "<13>Dec  1 10:00:00 host app: hello"}],
            note="One datagram: one event, surrounding whitespace stripped.",
        ),
    ]

    def dropped(self) -> None:
        self.stats.incr("dropped_datagrams")
        self.warn_limited(
            "dropped",
            "receive queue full; dropped a datagram (%d so far).",
            self.stats.counts["dropped_datagrams"],
            every=DROP_WARNING_SECS,
        )

    def default_framing(self) -> Framing:
        return Framing(
            kind="datagram",
            strip=True,
            max_record_bytes=self.options.max_datagram_bytes,
            option="max_datagram_bytes",
        )

    async def serve(self, emit: Emit) -> None:
        options = self.options
        where = f"{options.interface}:{options.port}"
        loop = asyncio.get_running_loop()
        try:
            transport, receiver = await loop.create_datagram_endpoint(
                lambda: _Receiver(self), local_addr=(options.interface, options.port)
            )
        except OSError as error:
            reason = error.strerror or str(error)
            raise OSError(
                error.errno, f"{self.label}: cannot listen on {where}: {reason}"
            ) from error
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(OSError):  # best effort; the kernel default still works
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        self.bound_port = transport.get_extra_info("sockname")[1]
        self.log.info("%s: listening on %s (port %s).", self.label, where, self.bound_port)
        try:
            while True:
                await emit(self._pieces(await self._next_batch(receiver)))
        finally:
            transport.close()
            if not receiver.queue.empty():  # received already: send them on, don't lose them
                await emit(self._pieces(self._take(receiver, [])))
            self.log.info("%s: stopped listening on %s.", self.label, where)

    async def _next_batch(self, receiver: _Receiver) -> list[_Datagram]:
        """Wait for a datagram, then take whatever else has arrived (up to a batch)."""
        return self._take(receiver, [await receiver.queue.get()])

    @staticmethod
    def _take(receiver: _Receiver, datagrams: list[_Datagram]) -> list[_Datagram]:
        queue = receiver.queue
        while len(datagrams) < BATCH_DATAGRAMS and not queue.empty():
            datagrams.append(queue.get_nowait())
        receiver.queued_bytes -= sum(len(data) for data, _ in datagrams)
        return datagrams

    @staticmethod
    def _pieces(datagrams: list[_Datagram]) -> list[Piece]:
        """One piece per run of datagrams from the same sender (sizes keep them apart)."""
        pieces = []
        for (host, port, *_), group in itertools.groupby(datagrams, key=lambda item: item[1]):
            run = [data for data, _ in group]
            pieces.append(Piece(f"{host}:{port}", b"".join(run), tuple(map(len, run))))
        return pieces
