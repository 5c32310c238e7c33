"""UdpServer: receive datagrams; each one is an event."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any, Final

from pydantic import Field

from gp_celery.framing import Framing, Piece
from gp_celery.modules.base import Emit, Example, Input, Options
from gp_celery.modules.registry import register
from gp_celery_inputs.udp_server.sockets import (
    KernelDrops,
    ReceiveBuffer,
    open_socket,
    rmem_max,
    sender_name,
    set_receive_buffer,
)

QUEUED_DATAGRAMS: Final = 10_000
QUEUED_BYTES: Final = 32 << 20
"""Datagrams wait here while emit() applies backpressure; beyond either bound they are dropped."""
BATCH_DATAGRAMS: Final = 500
"""At most this many datagrams per emit() (about one embedded chunk of syslog lines)."""
READS_PER_WAKEUP: Final = 1000
"""Datagrams read per readiness callback before the event loop gets its turn again."""
RECEIVE_BYTES: Final = 65536
"""More than any UDP payload, so an oversize datagram is seen whole (then truncated, tagged)."""
RECEIVE_BUFFER_BYTES: Final = 32 << 20
STOP_READS: Final = 100
"""At stop, at most this many more wake-ups' worth is read (the socket's buffer)."""
DROP_CHECK_SECS: Final = 1.0
"""How often an idle server reads the kernel's drop counter (a busy one: every batch)."""
DROP_WARNING_SECS: Final = 10.0

_Run = tuple[tuple[Any, ...], list[bytes]]
"""Datagrams in a row from one sender, as read."""


class UdpServerOptions(Options):
    interface: str = "0.0.0.0"  # noqa: S104 - GambolPutty's default: listen on all interfaces
    """Address to listen on: an IPv4 or IPv6 address or a name; '' or '::' listen on every
    address, IPv4 and IPv6, with one socket."""
    port: int = Field(5151, ge=0, le=65535)
    """Port to listen on (0 picks a free port; see bound_port)."""
    timeout: float | None = None
    """Accepted for GambolPutty configs and unused (it was a socket timeout there)."""
    max_datagram_bytes: int = Field(65535, ge=1)
    """Longer datagrams are truncated to this many bytes and tagged."""
    receive_buffer_bytes: int = Field(RECEIVE_BUFFER_BYTES, ge=0)
    """The socket's receive buffer (SO_RCVBUF; rsyslog's RcvBufSize, syslog-ng's so-rcvbuf):
    what a burst can fill while the pipeline is behind, before the kernel drops datagrams.
    As root it is forced past net.core.rmem_max (SO_RCVBUFFORCE); otherwise the kernel caps
    it there and the log says what was granted. 0 keeps the kernel's default."""


@register
class UdpServer(Input[UdpServerOptions]):
    """Receive UDP datagrams; each datagram, stripped, is one event.

    ``received_from`` is "ip:port" of the sender (an IPv4 sender to a dual-stack socket is
    named by its IPv4 address). Invalid UTF-8 is replaced and the event tagged; datagrams
    longer than ``max_datagram_bytes`` are truncated and tagged; an empty datagram is an
    (empty) event, as in GambolPutty.

    UDP cannot be slowed down, so every datagram lost is counted, in the node's counters
    (the end of `gp-celery run`, the listener's log at exit) with a rate-limited warning:
    "kernel_dropped_datagrams" are those the kernel dropped because the socket's receive
    buffer (``receive_buffer_bytes``, 32 MiB by default: on loopback the kernel charges
    1,280 bytes for a syslog-sized datagram, so it holds about 52,000) was full, read from
    the kernel's own counter for the socket; "dropped_datagrams" those read while the pipeline was
    behind beyond 10,000 datagrams / 32 MiB waiting in the process. Datagrams are read in
    batches (up to 1,000 per wake-up) and handed on 500 at a time. Differences from
    GambolPutty: IPv6, and '' or '::' as one socket for IPv4 and IPv6; GambolPutty lost
    datagrams in silence.
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
        Example(
            options={"interface": "::", "port": 514, "receive_buffer_bytes": 128 << 20},
            given=[{"data": "<14>Dec  1 10:00:00 host app: from IPv4 or IPv6"}],
            expect=[{"data": "<14>Dec  1 10:00:00 host app: from IPv4 or IPv6"}],
            note="Syslog on every address, IPv4 and IPv6, with room for long bursts.",
        ),
    ]

    def default_framing(self) -> Framing:
        return Framing(
            kind="datagram",
            strip=True,
            max_record_bytes=self.options.max_datagram_bytes,
            option="max_datagram_bytes",
        )

    async def serve(self, emit: Emit) -> None:
        options = self.options
        where = f"{options.interface or '*'}:{options.port}"
        try:
            sock = open_socket(options.interface, options.port)
        except OSError as error:
            reason = error.strerror or str(error)
            raise OSError(
                error.errno, f"{self.label}: cannot listen on {where}: {reason}"
            ) from error
        self._runs: deque[_Run] = deque()
        self._queued = self._queued_bytes = 0
        self._ready = asyncio.Event()
        self._sock = sock
        loop = asyncio.get_running_loop()
        try:
            buffer = set_receive_buffer(sock, options.receive_buffer_bytes)
            drops = KernelDrops(sock)
            self._kernel_drops = drops.read() or 0
            self.bound_port = sock.getsockname()[1]
            self._log_listening(where, buffer, drops)
            loop.add_reader(sock.fileno(), self._read)
            try:
                await self._pump(emit, drops)
            finally:
                loop.remove_reader(sock.fileno())
                self._read_all()  # what the kernel holds was received: send it on too
                self._count_kernel_drops(drops)
                while self._runs:
                    await emit(self._take())
        finally:
            sock.close()
            self.log.info("%s: stopped listening on %s.", self.label, where)

    async def _pump(self, emit: Emit, drops: KernelDrops) -> None:
        """Hand on what was read, a batch at a time; count the kernel's drops meanwhile."""
        ready = self._ready
        while True:
            if not self._runs:
                ready.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(DROP_CHECK_SECS):
                        await ready.wait()
            self._count_kernel_drops(drops)
            if self._runs:
                await emit(self._take())

    def _read(self) -> int:
        """Readable: read datagrams until none is left, at most READS_PER_WAKEUP; return
        how many were read."""
        recvfrom, runs = self._sock.recvfrom, self._runs
        queued, queued_bytes = self._queued, self._queued_bytes
        received = 0
        while received < READS_PER_WAKEUP:
            try:
                data, address = recvfrom(RECEIVE_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:  # an error the kernel queued for the socket
                self.warn_limited("socket", "socket error: %s.", error, every=DROP_WARNING_SECS)
                break
            received += 1
            if queued >= QUEUED_DATAGRAMS or queued_bytes + len(data) > QUEUED_BYTES:
                self._dropped()
                continue
            queued += 1
            queued_bytes += len(data)
            if runs and runs[-1][0] == address:
                runs[-1][1].append(data)
            else:
                runs.append((address, [data]))
        self._queued, self._queued_bytes = queued, queued_bytes
        if runs:
            self._ready.set()
        return received

    def _read_all(self) -> None:
        """At stop: read what the kernel holds (bounded, should senders go on sending)."""
        for _ in range(STOP_READS):
            if self._read() < READS_PER_WAKEUP:
                return

    def _take(self) -> list[Piece]:
        """Up to BATCH_DATAGRAMS datagrams, one piece per run of one sender's datagrams
        (the sizes keep the datagrams apart)."""
        runs, pieces, left = self._runs, [], BATCH_DATAGRAMS
        while runs and left:
            address, datagrams = runs[0]
            if len(datagrams) > left:  # the rest of the run waits for the next batch
                head = datagrams[:left]
                del datagrams[:left]
                datagrams = head
            else:
                runs.popleft()
            left -= len(datagrams)
            data = b"".join(datagrams)
            self._queued_bytes -= len(data)
            pieces.append(Piece(sender_name(address), data, tuple(map(len, datagrams))))
        taken = BATCH_DATAGRAMS - left
        self._queued -= taken
        self.stats.incr("received_datagrams", taken)
        return pieces

    def _dropped(self) -> None:
        self.stats.incr("dropped_datagrams")
        self.warn_limited(
            "dropped",
            "the pipeline is behind and %d datagrams wait; dropped a datagram (%d so far).",
            QUEUED_DATAGRAMS,
            self.stats.counts["dropped_datagrams"],
            every=DROP_WARNING_SECS,
        )

    def _count_kernel_drops(self, drops: KernelDrops) -> None:
        now = drops.read()
        if now is None or now == self._kernel_drops:
            return
        new = (now - self._kernel_drops) % (1 << 32)  # the kernel's counter is 32 bits
        self._kernel_drops = now
        self.stats.incr("kernel_dropped_datagrams", new)
        self.warn_limited(
            "kernel_dropped",
            "the kernel dropped %d datagrams (%d so far): the socket's receive buffer was "
            "full while the pipeline was behind; a larger receive_buffer_bytes absorbs "
            "longer bursts.",
            new,
            self.stats.counts["kernel_dropped_datagrams"],
            every=DROP_WARNING_SECS,
        )

    def _log_listening(self, where: str, buffer: ReceiveBuffer, drops: KernelDrops) -> None:
        cap = rmem_max()
        forced = buffer.forced and cap is not None and buffer.granted > cap
        self.log.info(
            "%s: listening on %s (port %s), receive buffer %d bytes%s.",
            self.label,
            where,
            self.bound_port,
            buffer.granted,
            " (forced past net.core.rmem_max)" if forced else "",
        )
        if buffer.granted < buffer.wanted:
            self.log.warning(
                "%s: the kernel granted a receive buffer of %d bytes, not the %d asked "
                "(receive_buffer_bytes): net.core.rmem_max (%s) caps it. Raise it with "
                "`sysctl -w net.core.rmem_max=%d`, or run as root (SO_RCVBUFFORCE).",
                self.label,
                buffer.granted,
                buffer.wanted,
                "unknown" if cap is None else cap,
                buffer.wanted,
            )
        if not drops.source:
            self.log.info(
                "%s: this system does not tell the datagrams the kernel drops; only the "
                "process's own drops are counted.",
                self.label,
            )
