"""TcpServer: receive byte streams from many TCP (optionally TLS) clients at once."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from typing import Any, Final, Literal

from pydantic import Field, field_validator, model_validator

from gp_celery.framing.text import DEFAULT_MAX_LINE_BYTES
from gp_celery.modules.base import Emit, Example
from gp_celery.modules.registry import register
from gp_celery_inputs.stream_server import BACKLOG, StreamServer, StreamServerOptions

BUFFER_SIZE_UNIT: Final = 10240
"""GambolPutty multiplied max_buffer_size by 10240 (not 1024) to get bytes; kept for configs."""
TLS_VERSIONS: Final = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1_1": ssl.TLSVersion.TLSv1_1,
    "TLSv1_2": ssl.TLSVersion.TLSv1_2,
    "TLSv1_3": ssl.TLSVersion.TLSv1_3,
}
KEEPALIVE: Final = (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 6))
"""First probe after 60 s of silence, then 6 probes 10 s apart."""
NO_IPV6: Final = (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT)
"""What binding '::' fails with on a host without IPv6: listen on IPv4 alone then."""


class TcpServerOptions(StreamServerOptions):
    interface: str = ""
    """Address to listen on: an IPv4 or IPv6 address or a host name (its first address);
    '' listens on all interfaces, IPv4 and IPv6, with one socket."""
    port: int = Field(5151, ge=0, le=65535)
    """Port to listen on (0 picks a free port; the log says which)."""
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
    max_buffer_size: int = Field(10240, ge=1)
    """GambolPutty's line limit in units of 10240 bytes; used if set and max_line_bytes is not."""

    @field_validator("key", "cert", "cacert", mode="before")
    @classmethod
    def _false_is_unset(cls, value: Any) -> Any:
        return None if value is False else value  # GambolPutty's default was False

    @model_validator(mode="after")
    def _tls_needs_key_and_cert(self) -> TcpServerOptions:
        if self.tls and not (self.key and self.cert):
            raise ValueError("set 'key' and 'cert' when 'tls' is true")
        if (self.cacert or self.tls_proto) and not self.tls:
            raise ValueError("'cacert' and 'tls_proto' need 'tls: true'")
        return self

    def line_limit(self) -> int:
        """max_line_bytes; else max_buffer_size x 10240 if the config set it; else 1 MiB."""
        if self.max_line_bytes is not None:
            return self.max_line_bytes
        if "max_buffer_size" in self.model_fields_set:
            return self.max_buffer_size * BUFFER_SIZE_UNIT
        return DEFAULT_MAX_LINE_BYTES


@register
class TcpServer(StreamServer[TcpServerOptions]):
    """Receive a byte stream per TCP client; one event per line (or per msgpack object).

    Line mode: one event per line, surrounding ASCII whitespace stripped, empty lines
    ignored; ``received_from`` is "ip:port" of the client ("[ipv6]:port" for IPv6). Lines
    longer than the line limit (``max_line_bytes``; else GambolPutty's ``max_buffer_size``
    x 10240 bytes if the config sets it; else 1 MiB) are truncated and tagged; text that is
    not valid in ``encoding`` is replaced and tagged. When a client disconnects, idles past
    ``timeout`` or the server stops, its last partial line is an event too. Differences
    from GambolPutty: the separator is not left at the end of ``data`` (Tornado's
    read_until kept it), and ``timeout`` works.

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
    exactly one version). A failed handshake (no or an unknown certificate, garbage, a
    client that says nothing within ``timeout``, else 30 s) closes the connection and is
    counted ("tls_refused") with a rate-limited warning. The common name of a client's
    certificate is in the metadata of each of its events (``tls_client_cn``).

    Sockets: ``interface: ''`` is one socket on '::' that takes IPv4 too (IPV6_V6ONLY off),
    so port 0 gives one port for both (IPv4 alone where the host has no IPv6); an IPv6
    address (``'::1'``) listens on IPv6 alone. At most ``max_connections`` clients are
    served at once: a connection beyond is closed at once and counted
    ("refused_connections"), so a flood costs no memory and the clients already connected
    are served on. A client that vanished without closing is closed after ``timeout``
    ("idle_closed"); without a timeout, TCP keepalive probes close it within about two
    minutes (a live client that is merely quiet answers them and stays). These counts are
    logged when the input stops. While the pipeline is behind, clients are not read, so
    TCP flow control slows them down.
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
        self._start_serving(self._ssl_context())
        where = _where(options.interface, options.port)

        def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = _peer_name(writer.get_extra_info("peername"))
            if self._connected(reader, writer, emit, peer):
                _keep_alive(writer.get_extra_info("socket"))

        try:
            sock = self._listening_socket()
            server = await asyncio.start_server(
                on_client, sock=sock, limit=self._read_bytes, backlog=BACKLOG
            )
        except OSError as error:
            reason = error.strerror or str(error)
            raise OSError(
                error.errno, f"{self.label}: cannot listen on {where}: {reason}"
            ) from error
        self.bound_port = sock.getsockname()[1]
        self.log.info("%s: listening on %s (port %s).", self.label, where, self.bound_port)
        await self._serve_until_cancelled(server, where)

    def _listening_socket(self) -> socket.socket:
        """One socket: '' is '::' with IPv4 mapped in (IPv4 alone where IPv6 is not)."""
        interface, port = self.options.interface, self.options.port
        if interface:
            family, _, _, _, address = socket.getaddrinfo(
                interface, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            return _bound(family, address[:2])
        try:
            return _bound(socket.AF_INET6, ("::", port), dual_stack=True)
        except OSError as error:
            if error.errno not in NO_IPV6:
                raise
            self.log.info("%s: no IPv6 here (%s); listening on IPv4 only.", self.label, error)
            return _bound(socket.AF_INET, ("0.0.0.0", port))  # noqa: S104 - interface: ''


def _bound(family: int, address: tuple[Any, ...], dual_stack: bool = False) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual_stack else 1)
        sock.bind(address)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _keep_alive(sock: Any) -> None:
    """Probe a client that has been silent for a minute: one whose host vanished without
    closing (a half-open connection) is closed about two minutes later, even without a
    ``timeout``; a live one answers the probes and stays."""
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in KEEPALIVE:
        if hasattr(socket, option):  # Linux names; other systems keep their defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


def _where(interface: str, port: int) -> str:
    if not interface:
        return f"*:{port}"
    return f"[{interface}]:{port}" if ":" in interface else f"{interface}:{port}"


def _peer_name(peer: Any) -> str:
    """'ip:port', '[ipv6]:port'; an IPv4 client of the dual-stack socket is 'ip:port'."""
    if not peer:
        return "unknown"
    host, port = peer[0], peer[1]
    if host.startswith("::ffff:") and "." in host:
        host = host.removeprefix("::ffff:")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
