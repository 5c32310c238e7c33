"""Sockets for the sinks that speak a line or datagram protocol (GraphiteSink, SyslogSink,
UdpSink): opened on first use and again after any error, and which errors to retry.

Nothing here retries or sleeps: a failed send closes the socket and says whether trying
again later can help; the runner decides when.
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
from collections.abc import Callable, Sequence
from typing import Final

from gp_celery.modules.base import Failure
from gp_celery.modules.sinks.payloads import describe

RETRIABLE_ERRNOS: Final = frozenset(
    {
        errno.ECONNREFUSED,  # nobody listening (yet): the receiver may be restarting
        errno.ECONNRESET,  # the receiver went away mid-stream
        errno.ECONNABORTED,
        errno.EPIPE,  # we wrote after the receiver closed
        errno.ENOTCONN,
        errno.ESHUTDOWN,
        errno.ETIMEDOUT,  # a slow or overloaded receiver
        errno.EHOSTUNREACH,  # routes and links come back
        errno.ENETUNREACH,
        errno.EHOSTDOWN,
        errno.ENETDOWN,
        errno.ENOBUFS,  # the kernel's buffers are full for now
        errno.EAGAIN,
        errno.EINTR,
        errno.EADDRNOTAVAIL,  # no ephemeral port free for now
        errno.ENOENT,  # a unix socket path missing while its daemon restarts
    }
)
"""Socket errors that trying again later can fix. Everything else (EMSGSIZE: the message is
too big for this transport; EACCES; EPROTOTYPE; an unknown host name) needs a person."""

MAX_UDP_PAYLOAD: Final = 65507
"""The most an IPv4 UDP datagram can carry (65535 minus the IP and UDP headers)."""


def is_retriable(error: OSError) -> bool:
    """Can sending again later succeed without anyone changing anything?"""
    if isinstance(error, socket.gaierror):
        return error.errno == socket.EAI_AGAIN  # a resolver that is down, not a wrong name
    if isinstance(error, TimeoutError):  # socket timeouts carry no errno
        return True
    return error.errno in RETRIABLE_ERRNOS


def open_inet(host: str, port: int, kind: socket.SocketKind, timeout: float) -> socket.socket:
    """A socket connected to the first address of ``host`` that accepts (IPv4 or IPv6).

    A connected datagram socket makes the kernel report ICMP 'port unreachable' as
    ECONNREFUSED on a later send, so a missing receiver shows instead of eating datagrams.
    """
    last: OSError | None = None
    for family, socktype, proto, _name, address in socket.getaddrinfo(host, port, 0, kind):
        sock = socket.socket(family, socktype, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError as error:
            sock.close()
            last = error
            continue
        return sock
    raise last or OSError(errno.EHOSTUNREACH, f"no address for {host}")


def open_unix(path: str, timeout: float) -> socket.socket:
    """A unix socket connected to ``path``: a datagram socket (/dev/log), else a stream."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        sock = socket.socket(socket.AF_UNIX, kind)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError as error:
            sock.close()
            if error.errno != errno.EPROTOTYPE or kind == socket.SOCK_STREAM:
                raise
            continue
        return sock
    raise AssertionError("unreachable")


class Link:
    """One socket, opened by ``opener`` on first use and after any failed send."""

    def __init__(self, opener: Callable[[], socket.socket]) -> None:
        self._opener = opener
        self._sock: socket.socket | None = None

    def socket(self) -> socket.socket:
        """The open socket (opened now if needed); raises OSError."""
        sock = self._sock
        if sock is not None and sock.type == socket.SOCK_STREAM and peer_closed(sock):
            self.close()
            sock = None
        if sock is None:
            sock = self._sock = self._opener()
        return sock

    def is_datagram(self) -> bool:
        """Is the socket (opened now if needed) a datagram socket? Raises OSError."""
        return self.socket().type == socket.SOCK_DGRAM

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def send_stream(self, payload: bytes) -> None:
        """Send all of ``payload``; on error the socket is closed and OSError raised."""
        sock = self.socket()
        try:
            sock.sendall(payload)
        except OSError:
            self.close()
            raise

    def send_datagrams(self, payloads: Sequence[tuple[int, bytes]]) -> list[Failure]:
        """One datagram per payload. A retriable error (the receiver is gone) fails this
        payload and every later one, to be retried together; a non-retriable one (too big
        for the path) fails its payload alone."""
        failures: list[Failure] = []
        try:
            sock = self.socket()
        except OSError as error:
            reason, retriable = describe(error), is_retriable(error)
            return [Failure(index, reason, retriable) for index, _ in payloads]
        for at, (index, payload) in enumerate(payloads):
            try:
                sock.send(payload)
            except OSError as error:
                reason = describe(error)
                if not is_retriable(error):
                    failures.append(Failure(index, reason, False))
                    continue
                self.close()
                return failures + [Failure(i, reason, True) for i, _ in payloads[at:]]
        return failures


def peer_closed(sock: socket.socket) -> bool:
    """Has the receiver hung up since our last send?

    A send into a connection the peer has closed succeeds once, and those bytes are lost;
    line receivers (carbon, syslog daemons) never answer, so that send is the first sign.
    Looking for the end of the stream before each batch saves the batch after a restart.
    """
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
