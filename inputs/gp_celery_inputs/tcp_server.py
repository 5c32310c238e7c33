"""TcpServer: receive byte streams from many TCP (optionally TLS) clients at once."""

from __future__ import annotations

import asyncio
import re
import ssl
from typing import Annotated, Any, Final, Literal

from pydantic import Field, PlainValidator, WithJsonSchema, field_validator, model_validator

from gp_celery.framing import DEFAULT_MAX_LINE_BYTES, Framer, FramingSpec
from gp_celery.modules.base import Emit, Input, Options
from gp_celery.modules.registry import register

LINE_READ_BYTES: Final = 1 << 16
"""Read size in line mode; fewer, larger reads cost less per event than chunksize-sized ones."""
BUFFER_SIZE_UNIT: Final = 10240
"""GambolPutty multiplied max_buffer_size by 10240 (not 1024) to get bytes; kept for configs."""


def compile_separator(value: Any) -> re.Pattern[bytes]:
    """Compile a ``regex_separator`` option to a bytes pattern, keeping the re.error detail."""
    if isinstance(value, re.Pattern) and isinstance(value.pattern, bytes):
        return value
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a regular expression, got {value!r}")
    try:
        pattern = re.compile(value.encode())
    except re.error as error:
        where = f" at position {error.pos}" if error.pos is not None else ""
        raise ValueError(f"bad regular expression: {error.msg}{where}") from None
    if pattern.fullmatch(b"") is not None:
        raise ValueError("the separator must not match the empty string")
    return pattern


RegexSeparator = Annotated[
    re.Pattern[bytes], PlainValidator(compile_separator), WithJsonSchema({"type": "string"})
]
"""Option type for a regex line separator, matched against the raw bytes."""


class TcpServerOptions(Options):
    interface: str = ""
    """Address to listen on; '' listens on all interfaces."""
    port: int = Field(5151, ge=0, le=65535)
    """Port to listen on (0 picks a free port; see bound_port)."""
    timeout: float | None = Field(None, gt=0)
    """Close a client that sends nothing for this many seconds (None: never)."""
    tls: bool = False
    """Accept TLS connections only (needs key and cert)."""
    key: str | None = None
    """Path to the PEM private key for TLS."""
    cert: str | None = None
    """Path to the PEM certificate (chain) for TLS."""
    mode: Literal["line", "stream"] = "line"
    """'line': one event per line; 'stream': one event per chunk read, bytes kept as they are."""
    simple_separator: str = Field("\n", min_length=1)
    """Line separator in line mode."""
    regex_separator: RegexSeparator | None = None
    """Regex line separator (matched on the raw bytes); wins over simple_separator if set."""
    chunksize: int = Field(16384, ge=1)
    """Stream mode: the most bytes one event carries."""
    max_buffer_size: int = Field(10240, ge=1)
    """GambolPutty's line limit in units of 10240 bytes; used if set and max_line_bytes is not."""
    max_line_bytes: int | None = Field(None, ge=1)
    """Longer lines are truncated to this many bytes and tagged (default 1 MiB)."""

    @field_validator("key", "cert", mode="before")
    @classmethod
    def _false_is_unset(cls, value: Any) -> Any:
        return None if value is False else value  # GambolPutty's default was False

    @model_validator(mode="after")
    def _tls_needs_key_and_cert(self) -> TcpServerOptions:
        if self.tls and not (self.key and self.cert):
            raise ValueError("set 'key' and 'cert' when 'tls' is true")
        return self

    @property
    def line_limit(self) -> int:
        """max_line_bytes; else max_buffer_size x 10240 if the config set it; else 1 MiB."""
        if self.max_line_bytes is not None:
            return self.max_line_bytes
        if "max_buffer_size" in self.model_fields_set:
            return self.max_buffer_size * BUFFER_SIZE_UNIT
        return DEFAULT_MAX_LINE_BYTES


@register
class TcpServer(Input[TcpServerOptions]):
    """Receive a byte stream per TCP client; the shared framer cuts it into events.

    Line mode: one event per line, surrounding ASCII whitespace stripped, empty lines
    ignored; ``received_from`` is "ip:port" of the client. Lines longer than the line limit
    (``max_line_bytes``; else GambolPutty's ``max_buffer_size`` x 10240 bytes if the config
    sets it; else 1 MiB) are truncated and tagged, invalid UTF-8 is replaced and tagged. At
    disconnect, idle timeout or shutdown the client's last partial line is an event too.
    Differences from GambolPutty: the separator is not left at the end of ``data`` (Tornado's
    read_until kept it; only whitespace separators were stripped away), and ``timeout`` works.

    Stream mode: each read of up to ``chunksize`` bytes is one event, neither tagged nor
    stripped (GambolPutty stripped it, corrupting binary payloads at chunk ends). Contract
    for parsers (MsgPackParser): ``data`` is the chunk decoded with
    ``errors="surrogateescape"``, so ``data.encode("utf-8", "surrogateescape")`` returns the
    exact bytes received. Such ``data`` may hold lone surrogates, which strict UTF-8
    encoders (orjson, msgpack's default) reject.

    Backpressure: while ``emit`` waits, that client is not read, so TCP flow control slows it
    down. After listening starts, ``bound_port`` holds the port (useful with ``port: 0``).
    Cancelling ``serve()`` closes the listening socket, then every client: its framer is
    flushed through ``emit`` and its connection closed.
    """

    aliases = ("input.Tcp",)
    bound_port: int | None = None

    def _ssl_context(self) -> ssl.SSLContext | None:
        options = self.options
        if not options.tls or options.cert is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(options.cert, options.key)
        except OSError as error:  # ssl.SSLError is an OSError too
            raise OSError(
                f"{self.label}: cannot load TLS cert {options.cert!r} / key {options.key!r}: "
                f"{error}"
            ) from error
        return context

    async def serve(self, emit: Emit) -> None:
        options = self.options
        self._spec = FramingSpec(
            mode=options.mode,
            separator=options.simple_separator,
            regex=options.regex_separator,
            strip=True,
            max_line_bytes=options.line_limit,
        )
        self._read_bytes = options.chunksize if options.mode == "stream" else LINE_READ_BYTES
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
        framer = Framer(self._spec, self.name, received_from, self.fail)
        self.log.debug("%s: client %s connected.", self.label, received_from)
        try:
            await self._pump(reader, framer, emit)
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
                if events := framer.close():
                    await emit(events)
            finally:
                writer.close()
                self.log.debug("%s: client %s disconnected.", self.label, received_from)

    async def _pump(self, reader: asyncio.StreamReader, framer: Framer, emit: Emit) -> None:
        size, timeout = self._read_bytes, self.options.timeout
        while True:
            if timeout is None:
                chunk = await reader.read(size)
            else:
                async with asyncio.timeout(timeout):
                    chunk = await reader.read(size)
            if not chunk:
                return
            if events := framer.feed(chunk):
                await emit(events)
