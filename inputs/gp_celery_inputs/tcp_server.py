"""TcpServer: receive byte streams from many TCP (optionally TLS) clients at once."""

from __future__ import annotations

import asyncio
import codecs
import ssl
from dataclasses import replace
from typing import Any, Final, Literal

from pydantic import Field, field_validator, model_validator

from gp_celery.framing import Cutter, Framing, Piece
from gp_celery.framing.options import StreamFramingOptions
from gp_celery.framing.text import DEFAULT_MAX_LINE_BYTES
from gp_celery.modules.base import Emit, Example, Input
from gp_celery.modules.registry import register

LINE_READ_BYTES: Final = 1 << 16
"""Read size in line mode; fewer, larger reads cost less per event than chunksize-sized ones."""
BUFFER_SIZE_UNIT: Final = 10240
"""GambolPutty multiplied max_buffer_size by 10240 (not 1024) to get bytes; kept for configs."""
TLS_VERSIONS: Final = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1_1": ssl.TLSVersion.TLSv1_1,
    "TLSv1_2": ssl.TLSVersion.TLSv1_2,
    "TLSv1_3": ssl.TLSVersion.TLSv1_3,
}


class TcpServerOptions(StreamFramingOptions):
    interface: str = ""
    """Address to listen on; '' listens on all interfaces."""
    port: int = Field(5151, ge=0, le=65535)
    """Port to listen on (0 picks a free port; the log says which)."""
    timeout: float | None = Field(None, gt=0)
    """Close a client that sends nothing for this many seconds (None: never)."""
    tls: bool = False
    """Accept TLS connections only (needs key and cert)."""
    key: str | None = None
    """Path to the PEM private key for TLS."""
    cert: str | None = None
    """Path to the PEM certificate (chain) for TLS."""
    cacert: str | None = None
    """Path to a PEM CA bundle: with it, clients must present a certificate it signed."""
    tls_proto: Literal["TLSv1", "TLSv1_1", "TLSv1_2", "TLSv1_3"] | None = None
    """Oldest TLS version accepted (default: the system's, TLS 1.2 on current systems)."""
    encoding: str = "utf-8"
    """Character encoding of the received text."""
    chunksize: int = Field(16384, ge=1)
    """Stream mode: the most bytes one read (one event, without decoding) carries."""
    max_buffer_size: int = Field(10240, ge=1)
    """GambolPutty's line limit in units of 10240 bytes; used if set and max_line_bytes is not."""

    @field_validator("key", "cert", "cacert", mode="before")
    @classmethod
    def _false_is_unset(cls, value: Any) -> Any:
        return None if value is False else value  # GambolPutty's default was False

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None

    @model_validator(mode="after")
    def _tls_needs_key_and_cert(self) -> TcpServerOptions:
        if self.tls and not (self.key and self.cert):
            raise ValueError("set 'key' and 'cert' when 'tls' is true")
        if (self.cacert or self.tls_proto) and not self.tls:
            raise ValueError("'cacert' and 'tls_proto' need 'tls: true'")
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

    def line_limit(self) -> int:
        """max_line_bytes; else max_buffer_size x 10240 if the config set it; else 1 MiB."""
        if self.max_line_bytes is not None:
            return self.max_line_bytes
        if "max_buffer_size" in self.model_fields_set:
            return self.max_buffer_size * BUFFER_SIZE_UNIT
        return DEFAULT_MAX_LINE_BYTES


@register
class TcpServer(Input[TcpServerOptions]):
    """Receive a byte stream per TCP client; one event per line (or per msgpack object).

    Line mode: one event per line, surrounding ASCII whitespace stripped, empty lines
    ignored; ``received_from`` is "ip:port" of the client. Lines longer than the line limit
    (``max_line_bytes``; else GambolPutty's ``max_buffer_size`` x 10240 bytes if the config
    sets it; else 1 MiB) are truncated and tagged; text that is not valid in ``encoding`` is
    replaced and tagged. When a client disconnects, idles past ``timeout`` or the server
    stops, its last partial line is an event too. Differences from GambolPutty: the
    separator is not left at the end of ``data`` (Tornado's read_until kept it), and
    ``timeout`` works.

    Stream mode with ``decoding: msgpack``: the stream is cut at msgpack object boundaries
    and every object is one event (a map's keys become fields). Stream mode feeding a
    MsgPackParser in stream mode (GambolPutty's shape) is cut the same way and the parser
    decodes each object, so a fleet never splits an object between two workers. Other
    stream mode: each read of up to ``chunksize`` bytes is one event, bytes untouched
    (GambolPutty stripped it, corrupting binary payloads); ``data`` is the bytes decoded with
    ``errors="surrogateescape"``.

    Syslog mode (``mode: syslog``, RFC 6587, for ``logger -T``, rsyslog and syslog-ng
    senders): each frame is octet-counted ("MSG-LEN SP MSG", so a message may hold
    newlines) when it starts with a digit, and ends at a newline otherwise; senders may mix
    both. A length above the line limit keeps the limit's worth and skips the rest by count
    (tagged); a frame that starts with a digit but has no valid length is read up to the
    next newline and tagged (with a rate-limited warning), and the connection stays open.
    Feed it to a SyslogParser.

    TLS: ``tls`` with ``key`` and ``cert``; ``cacert`` makes client certificates mandatory
    (signed by that CA); ``tls_proto`` is the oldest version accepted (LumberMill pinned
    exactly one version). While the pipeline is behind, clients are not read, so TCP flow
    control slows them down.
    """

    aliases = ("input.Tcp", "input.TcpServer")
    bound_port: int | None = None
    examples = [
        Example(
            options={"port": 5151},
            given=[{"data": "<13>Dec  1 10:00:00 host app: hello\n"}],
            expect=[{"data": "<13>Dec  1 10:00:00 host app: hello"}],
            note="Bytes a client sends: every line is an event, without its newline.",
        ),
        Example(
            options={"port": 6514, "mode": "syslog"},
            given=[{"data": "23 <13>1 - - - - - - hello<14>Dec  1 10:00:00 host app: hi\n"}],
            expect=[
                {"data": "<13>1 - - - - - - hello"},
                {"data": "<14>Dec  1 10:00:00 host app: hi"},
            ],
            note="Syslog framing: an octet-counted frame, then one ended by a newline.",
        ),
    ]

    def default_framing(self) -> Framing:
        return replace(self.options.framing(strip=True), encoding=self.options.encoding)

    def _ssl_context(self) -> ssl.SSLContext | None:
        options = self.options
        if not options.tls or options.cert is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(options.cert, options.key)
            if options.cacert:
                context.load_verify_locations(options.cacert)
                context.verify_mode = ssl.CERT_REQUIRED
        except OSError as error:  # ssl.SSLError is an OSError too
            raise OSError(
                f"{self.label}: cannot load TLS files (cert {options.cert!r}, key "
                f"{options.key!r}, cacert {options.cacert!r}): {error}"
            ) from error
        if options.tls_proto:
            context.minimum_version = TLS_VERSIONS[options.tls_proto]
        return context

    async def serve(self, emit: Emit) -> None:
        options = self.options
        self._read_bytes = options.chunksize if self.framing.kind == "stream" else LINE_READ_BYTES
        self._clients: set[asyncio.Task[None]] = set()
        self._closing = False
        where = f"{options.interface or '*'}:{options.port}"

        def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if self._closing:  # accepted just as serve() was cancelled
                writer.close()
                return
            # Our own task, not start_server's: Python 3.11 logs a spurious error when the
            # task it made for a coroutine callback is cancelled at shutdown.
            task = asyncio.create_task(self._serve_client(reader, writer, emit))
            self._clients.add(task)
            task.add_done_callback(self._client_done)

        try:
            server = await asyncio.start_server(
                on_client,
                options.interface or None,
                options.port,
                ssl=self._ssl_context(),
                limit=self._read_bytes,
            )
        except OSError as error:
            reason = error.strerror or str(error)
            raise OSError(
                error.errno, f"{self.label}: cannot listen on {where}: {reason}"
            ) from error
        self.bound_port = server.sockets[0].getsockname()[1]
        self.log.info("%s: listening on %s (port %s).", self.label, where, self.bound_port)
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self._closing = True
            server.close()
            await self._close_clients()
            await server.wait_closed()
            self.log.info("%s: stopped listening on %s.", self.label, where)

    async def _close_clients(self) -> None:
        clients = list(self._clients)
        for client in clients:
            client.cancel()
        await asyncio.gather(*clients, return_exceptions=True)

    def _client_done(self, task: asyncio.Task[None]) -> None:
        self._clients.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self.log.error("%s: a client connection failed.", self.label, exc_info=error)

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, emit: Emit
    ) -> None:
        peer = writer.get_extra_info("peername")
        received_from = f"{peer[0]}:{peer[1]}" if peer else "unknown"
        cutter = self.cutter(received_from)
        self.log.debug("%s: client %s connected.", self.label, received_from)
        try:
            await self._pump(reader, cutter, emit, received_from)
        except TimeoutError:
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
                    self._warn_of_bad_frames(pieces, received_from)
                    await emit(pieces)
            finally:
                writer.close()
                self.log.debug("%s: client %s disconnected.", self.label, received_from)

    async def _pump(
        self, reader: asyncio.StreamReader, cutter: Cutter, emit: Emit, received_from: str
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
                self._warn_of_bad_frames(pieces, received_from)
                await emit(pieces)

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
