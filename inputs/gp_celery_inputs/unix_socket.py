"""UnixSocket: receive byte streams or datagrams on a Unix domain socket."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import socket
import stat
from typing import Any, Final, Literal

from pydantic import Field, field_validator, model_validator

from gp_celery.framing import Framing, Piece
from gp_celery.modules.base import Emit, Example
from gp_celery.modules.registry import register
from gp_celery_inputs.stream_server import BACKLOG, StreamServer, StreamServerOptions

MAX_PATH_BYTES: Final = 107
"""sun_path holds 108 bytes, with the terminating NUL."""
BATCH_DATAGRAMS: Final = 500
PROBE_SECS: Final = 1.0
OCTAL_MODE: Final = re.compile(r"0?[0-7]{3,4}")


class UnixSocketOptions(StreamServerOptions):
    path_to_socket: str = Field(min_length=1)
    """Path of the socket file; a stale one (nobody serves it) is replaced at start."""
    socket_type: Literal["stream", "datagram"] = "stream"
    """'stream': one byte stream per client, cut as ``mode`` says (like TcpServer);
    'datagram': every datagram is one event (like UdpServer), e.g. for ``logger -u``."""
    socket_mode: str = "0600"
    """The socket file's permissions, an octal string ('0660'); who may write to it."""
    max_datagram_bytes: int = Field(65535, ge=1)
    """Datagram sockets: longer datagrams are truncated to this many bytes and tagged."""

    @field_validator("path_to_socket")
    @classmethod
    def _fits_sun_path(cls, value: str) -> str:
        if len(os.fsencode(value)) > MAX_PATH_BYTES:
            raise ValueError(f"a Unix socket path has at most {MAX_PATH_BYTES} bytes")
        return value

    @field_validator("socket_mode", mode="before")
    @classmethod
    def _octal_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(
                f"quote the mode, e.g. '0660': YAML reads 0660 unquoted as a number ({value!r})"
            )
        if not OCTAL_MODE.fullmatch(value):
            raise ValueError(f"expected an octal mode such as '0660', got {value!r}")
        return value

    @model_validator(mode="after")
    def _datagrams_are_records(self) -> UnixSocketOptions:
        if self.socket_type == "datagram" and self.mode != "line":
            raise ValueError("'mode' applies to 'socket_type: stream' only")
        return self

    @property
    def mode_bits(self) -> int:
        return int(self.socket_mode, 8)


@register
class UnixSocket(StreamServer[UnixSocketOptions]):
    """Receive streams or datagrams on a Unix socket; one event per line or datagram.

    ``socket_type: stream`` (the default) serves many clients at once exactly as TcpServer
    does, with the same options (``mode`` line/stream/syslog, separators, ``max_line_bytes``,
    ``encoding``, ``timeout``, ``max_connections``). ``socket_type: datagram`` makes each
    datagram one event, stripped (an empty one too), truncated and tagged beyond
    ``max_datagram_bytes``; unlike UDP, a Unix datagram socket makes senders wait while the
    pipeline is behind, so nothing is dropped. ``received_from`` is the socket's path.

    The socket file gets ``socket_mode`` (LumberMill's Tornado made it 0600); a stale file
    (a socket nobody serves) is replaced at start, one that another process serves or that
    is not a socket stops the input with an error; the file is removed at stop. Differences
    from LumberMill: lines are stripped (LumberMill kept the line ending in ``data``) and
    ``received_from`` is the path (it was the host name).
    """

    aliases = ("input.UnixSocket",)
    listening: bool = False
    """True once the socket file exists and is served (for tests and tools)."""
    examples = [
        Example(
            options={"path_to_socket": "/run/gp-celery/log.sock"},
            given=[{"data": "first line\r\nsecond line\n"}],
            expect=[{"data": "first line"}, {"data": "second line"}],
            note="What a client writes (e.g. 'nc -U'): every line is an event.",
        ),
        Example(
            options={"path_to_socket": "/run/gp-celery/dev-log", "socket_type": "datagram"},
            given=[{"data": "<13>Dec  1 10:00:00 app: hello\n"}],
            expect=[{"data": "<13>Dec  1 10:00:00 app: hello"}],
            note="A datagram (e.g. 'logger -u'): one event.",
        ),
    ]

    def default_framing(self) -> Framing:
        options = self.options
        if options.socket_type == "stream":
            return super().default_framing()
        return Framing(
            kind="datagram",
            strip=True,
            max_record_bytes=options.max_datagram_bytes,
            option="max_datagram_bytes",
            encoding=options.encoding,
        )

    async def serve(self, emit: Emit) -> None:
        path = self.options.path_to_socket
        try:
            sock = self._bind()
        except OSError as error:
            reason = error.strerror or str(error)
            where = f"{self.label}: cannot listen on {path}"
            raise OSError(error.errno, f"{where}: {reason}") from error
        identity = _identity(path)
        try:
            if self.options.socket_type == "stream":
                await self._serve_streams(sock, emit)
            else:
                await self._serve_datagrams(sock, emit)
        finally:
            self.listening = False
            sock.close()
            if _identity(path) == identity:  # still ours, not a successor's
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    def _bind(self) -> socket.socket:
        options = self.options
        kind = socket.SOCK_STREAM if options.socket_type == "stream" else socket.SOCK_DGRAM
        _remove_stale(options.path_to_socket)
        sock = socket.socket(socket.AF_UNIX, kind)
        try:
            sock.bind(options.path_to_socket)
            os.chmod(options.path_to_socket, options.mode_bits)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    async def _serve_streams(self, sock: socket.socket, emit: Emit) -> None:
        self._start_serving()
        path = self.options.path_to_socket

        def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._connected(reader, writer, emit, path)

        server = await asyncio.start_unix_server(
            on_client, sock=sock, limit=self._read_bytes, backlog=BACKLOG
        )
        self._announce()
        await self._serve_until_cancelled(server, path)

    async def _serve_datagrams(self, sock: socket.socket, emit: Emit) -> None:
        """Read a datagram, then whatever else is queued (up to a batch); emit them as one
        piece. While emit waits, nothing is read and the kernel makes senders wait."""
        loop = asyncio.get_running_loop()
        size = self.options.max_datagram_bytes + 1  # one more: a longer one is tagged
        self._announce()
        try:
            while True:
                first = await loop.sock_recv(sock, size)
                await emit([self._piece(_queued(sock, size, [first]))])
        finally:
            if rest := _queued(sock, size, []):  # already sent to us: don't lose them
                await emit([self._piece(rest)])
            self.log.info("%s: stopped listening on %s.", self.label, self.options.path_to_socket)

    def _announce(self) -> None:
        """Clients can connect (or send) now."""
        options = self.options
        self.listening = True
        self.log.info(
            "%s: listening on %s (%s, mode %s).",
            self.label,
            options.path_to_socket,
            options.socket_type,
            options.socket_mode,
        )

    def _piece(self, datagrams: list[bytes]) -> Piece:
        return Piece(self.options.path_to_socket, b"".join(datagrams), tuple(map(len, datagrams)))


def _queued(sock: socket.socket, size: int, datagrams: list[bytes]) -> list[bytes]:
    while len(datagrams) < BATCH_DATAGRAMS:
        try:
            datagrams.append(sock.recv(size))
        except (BlockingIOError, InterruptedError):
            break
    return datagrams


def _identity(path: str) -> tuple[int, int] | None:
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def _remove_stale(path: str) -> None:
    """Remove a socket file nobody serves; refuse a live socket or any other file."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(status.st_mode):
        raise FileExistsError(errno.EEXIST, "the path exists and is not a socket")
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_UNIX, kind) as probe:
            probe.settimeout(PROBE_SECS)
            try:
                probe.connect(path)
            except OSError as error:
                if error.errno in (errno.ECONNREFUSED, errno.EPROTOTYPE, errno.ENOENT):
                    continue  # nobody serves it as this type
                raise OSError(errno.EADDRINUSE, f"another process serves it ({error})") from None
        raise OSError(errno.EADDRINUSE, "another process serves it")
    os.unlink(path)
