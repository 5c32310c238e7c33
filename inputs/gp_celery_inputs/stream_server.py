"""What TcpServer and UnixSocket share: their options, and one handler per client connection
(admission under ``max_connections``, an optional TLS handshake, reads with ``timeout``,
the shared cutter, the last partial record at the end)."""

from __future__ import annotations

import asyncio
import codecs
import ssl
from dataclasses import replace
from typing import Any, Final, TypeVar, cast

from pydantic import Field, field_validator, model_validator

from gp_celery.event import TLS_CLIENT_CN
from gp_celery.framing import Cutter, Framing, Piece
from gp_celery.framing.options import StreamFramingOptions
from gp_celery.modules.base import Emit, Input

LINE_READ_BYTES: Final = 1 << 16
"""Read size in line mode; fewer, larger reads cost less per event than chunksize-sized ones."""
BACKLOG: Final = 1024
"""Connections the kernel queues before we accept them (asyncio's default is 100)."""
TLS_HANDSHAKE_SECS: Final = 30.0
"""How long a TLS handshake may take when ``timeout`` is not set."""
REFUSED_WARNING_SECS: Final = 10.0
Meta = tuple[tuple[str, str], ...]
"""Metadata every event of one client carries (see Piece.meta)."""


class StreamServerOptions(StreamFramingOptions):
    """Options of a server that reads one byte stream per client connection."""

    timeout: float | None = Field(None, gt=0)
    """Close a client that sends nothing for this many seconds (None: never)."""
    max_connections: int = Field(1024, ge=1)
    """Clients served at once; a connection beyond is closed at once and counted
    ("refused_connections"), with a rate-limited warning."""
    encoding: str = "utf-8"
    """Character encoding of the received text."""
    chunksize: int = Field(16384, ge=1)
    """Stream mode: the most bytes one read (one event, without decoding) carries."""

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None

    @model_validator(mode="after")
    def _separator_in_encoding(self) -> StreamServerOptions:
        try:
            same = self.simple_separator.encode(self.encoding) == self.simple_separator.encode()
        except UnicodeEncodeError:
            same = False
        if not same:
            raise ValueError(
                f"encoding {self.encoding!r} is not ASCII-compatible: the separator "
                f"{self.simple_separator!r} would not be found in its bytes"
            )
        return self


StreamOptionsT = TypeVar("StreamOptionsT", bound=StreamServerOptions)


class StreamServer(Input[StreamOptionsT]):
    """Base of inputs that serve many stream clients at once (not a module itself)."""

    def default_framing(self) -> Framing:
        return replace(self.options.framing(strip=True), encoding=self.options.encoding)

    def _start_serving(self, tls: ssl.SSLContext | None = None) -> None:
        self._tls = tls
        self._read_bytes = (
            self.options.chunksize if self.framing.kind == "stream" else LINE_READ_BYTES
        )
        self._clients: set[asyncio.Task[None]] = set()
        self._closing = False

    async def _serve_until_cancelled(self, server: asyncio.Server, where: str) -> None:
        """Serve until cancelled; then flush and close every client, and the server."""
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            self._closing = True
            server.close()
            await self._close_clients()
            await server.wait_closed()
            counts = ", ".join(f"{name} {count}" for name, count in self.stats.counts.items())
            counted = f" ({counts})" if counts else ""
            self.log.info("%s: stopped listening on %s%s.", self.label, where, counted)

    def _connected(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        emit: Emit,
        received_from: str,
    ) -> bool:
        """A client connected: serve it in a task of our own (True), or refuse it at once."""
        if self._closing:  # accepted just as serve() was cancelled
            writer.transport.abort()
            return False
        if len(self._clients) >= self.options.max_connections:
            writer.transport.abort()  # no lingering: a flood costs no memory
            self.stats.incr("refused_connections")
            self.warn_limited(
                "refused",
                "%d clients connected (max_connections); refused %s (%d refused so far).",
                len(self._clients),
                received_from,
                self.stats.counts["refused_connections"],
                every=REFUSED_WARNING_SECS,
            )
            return False
        if self._tls is not None:
            # Nothing may be read before the handshake takes over the connection, or the
            # client's first TLS record would land in the plain reader.
            cast(asyncio.Transport, writer.transport).pause_reading()
        # Our own task, not start_server's: Python 3.11 logs a spurious error when the
        # task it made for a coroutine callback is cancelled at shutdown.
        task = asyncio.create_task(self._serve_client(reader, writer, emit, received_from))
        self._clients.add(task)
        task.add_done_callback(self._client_done)
        return True

    async def _close_clients(self) -> None:
        clients = list(self._clients)
        for client in clients:
            client.cancel()
        await asyncio.gather(*clients, return_exceptions=True)

    def _client_done(self, task: asyncio.Task[None]) -> None:
        self._clients.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self.log.error("%s: a client connection failed.", self.label, exc_info=error)

    async def _handshake(self, writer: asyncio.StreamWriter, received_from: str) -> Meta | None:
        """TLS: complete the handshake (client certificate checked). The metadata the
        client's events carry (its certificate's common name), or None if it failed."""
        assert self._tls is not None
        try:
            await writer.start_tls(
                self._tls, ssl_handshake_timeout=self.options.timeout or TLS_HANDSHAKE_SECS
            )
        except OSError as error:  # ssl.SSLError, a reset, the handshake timing out
            self.stats.incr("tls_refused")
            self.warn_limited(
                "tls",
                "TLS handshake with %s failed (%s); closed it (%d so far).",
                received_from,
                error,
                self.stats.counts["tls_refused"],
            )
            writer.transport.abort()
            return None
        subject = _subject(writer.get_extra_info("peercert"))
        self.log.debug("%s: client %s: certificate %s.", self.label, received_from, subject)
        names = [value for key, value in subject if key == "commonName"]
        return ((TLS_CLIENT_CN, names[-1]),) if names else ()

    async def _serve_client(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        emit: Emit,
        received_from: str,
    ) -> None:
        meta: Meta = ()
        if self._tls is not None:
            handshake = await self._handshake(writer, received_from)
            if handshake is None:
                return
            meta = handshake
        cutter = self.cutter(received_from)
        self.log.debug("%s: client %s connected.", self.label, received_from)
        try:
            await self._pump(reader, cutter, emit, received_from, meta)
        except TimeoutError:
            self.stats.incr("idle_closed")
            self.log.debug(
                "%s: client %s idle for %ss; closing it.",
                self.label,
                received_from,
                self.options.timeout,
            )
        except OSError as error:  # ConnectionResetError, ssl.SSLError, ...
            self.log.info("%s: client %s: %s; closing it.", self.label, received_from, error)
        finally:
            try:
                if pieces := cutter.close():
                    await emit(self._checked(pieces, received_from, meta))
            finally:
                writer.close()
                self.log.debug("%s: client %s disconnected.", self.label, received_from)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        cutter: Cutter,
        emit: Emit,
        received_from: str,
        meta: Meta,
    ) -> None:
        size, timeout = self._read_bytes, self.options.timeout
        while True:
            if timeout is None:
                chunk = await reader.read(size)
            else:
                async with asyncio.timeout(timeout):
                    chunk = await reader.read(size)
            if not chunk:
                return
            if pieces := cutter.feed(chunk):
                await emit(self._checked(pieces, received_from, meta))

    def _checked(self, pieces: list[Piece], received_from: str, meta: Meta) -> list[Piece]:
        """The pieces with the client's metadata, after a warning about bad frames."""
        self._warn_of_bad_frames(pieces, received_from)
        return [piece._replace(meta=meta) for piece in pieces] if meta else pieces

    def _warn_of_bad_frames(self, pieces: list[Piece], received_from: str) -> None:
        """Syslog mode: say (rate-limited) that a client sends frames that cannot be counted;
        their events are tagged with the same reason."""
        if self.framing.kind != "syslog":
            return
        for piece in pieces:
            if piece.note:
                self.warn_limited(
                    "syslog_frames", "client %s: a syslog frame %s.", received_from, piece.note
                )
                return


def _subject(certificate: Any) -> list[tuple[str, str]]:
    """(name, value) pairs of the subject in the dict SSLSocket.getpeercert() returns."""
    if not isinstance(certificate, dict):
        return []
    return [(key, value) for entry in certificate.get("subject", ()) for key, value in entry]
