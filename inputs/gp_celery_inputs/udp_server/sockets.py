"""The UDP socket: binding (IPv4, IPv6, one dual-stack socket), its receive buffer, and the
kernel's count of datagrams it dropped because that buffer was full."""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys
from dataclasses import dataclass
from typing import Any, Final

LINUX: Final = sys.platform.startswith("linux")
SO_RCVBUFFORCE: Final = getattr(socket, "SO_RCVBUFFORCE", 33)
"""Linux: SO_RCVBUF past net.core.rmem_max, for a process with CAP_NET_ADMIN (root)."""
SO_MEMINFO: Final = 55
"""Linux >= 4.6: the socket's memory counters; index 8 (SK_MEMINFO_DROPS) is the number of
datagrams the kernel dropped for this socket, read live (SO_RXQ_OVFL would report it only
with the next datagram received, so drops at the end of a burst would stay unseen)."""
SK_MEMINFO_DROPS: Final = 8
ANY_ADDRESS: Final = ("", "::")
"""Interfaces that mean "every address, IPv4 and IPv6": one dual-stack socket."""


@dataclass(frozen=True)
class ReceiveBuffer:
    wanted: int
    granted: int
    """What the kernel set (Linux reports twice the size asked: half is bookkeeping)."""
    forced: bool
    """Set with SO_RCVBUFFORCE (root), past net.core.rmem_max."""


def open_socket(interface: str, port: int) -> socket.socket:
    """A non-blocking UDP socket bound to ``interface``:``port``. '' and '::' bind one
    dual-stack socket (IPv6 with IPV6_V6ONLY off: IPv4 senders arrive as mapped addresses)
    where IPv6 is available, else IPv4's 0.0.0.0. Other names resolve as getaddrinfo says."""
    if interface in ANY_ADDRESS:
        try:
            return _bound(socket.AF_INET6, ("::", port), dual_stack=True)
        except OSError as error:
            if error.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                raise
        return _bound(socket.AF_INET, ("0.0.0.0", port))  # noqa: S104 - asked for any address
    infos = socket.getaddrinfo(interface, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    return _bound(family, address)


def _bound(family: int, address: tuple[Any, ...], *, dual_stack: bool = False) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if dual_stack:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.setblocking(False)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def set_receive_buffer(sock: socket.socket, wanted: int) -> ReceiveBuffer:
    """Ask for a ``wanted``-byte receive buffer: forced past net.core.rmem_max where the
    process may (root), else as much as the kernel grants. 0 keeps the kernel's default."""
    forced = False
    if wanted:
        if LINUX:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, wanted)
                forced = True
            except PermissionError:  # no CAP_NET_ADMIN: capped at net.core.rmem_max
                pass
        if not forced:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, wanted)
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if LINUX:
        granted //= 2
    return ReceiveBuffer(wanted, granted, forced)


def rmem_max() -> int | None:
    """net.core.rmem_max (Linux), the cap on a receive buffer set without privilege."""
    try:
        with open("/proc/sys/net/core/rmem_max") as file:
            return int(file.read())
    except (OSError, ValueError):
        return None


class KernelDrops:
    """The kernel's running count of datagrams it dropped for one socket (a full receive
    buffer, a bad checksum): SO_MEMINFO, else the socket's line in /proc/net/udp(6).
    ``read()`` is None where neither is there (not Linux)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.source = "SO_MEMINFO" if self._meminfo() is not None else "/proc/net/udp"
        if self.source != "SO_MEMINFO" and self._proc() is None:
            self.source = ""

    def read(self) -> int | None:
        if self.source == "SO_MEMINFO":
            return self._meminfo()
        if self.source:
            return self._proc()
        return None

    def _meminfo(self) -> int | None:
        if not LINUX:
            return None
        try:
            raw = self.sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 4 * (SK_MEMINFO_DROPS + 1))
        except OSError:
            return None
        if len(raw) < 4 * (SK_MEMINFO_DROPS + 1):
            return None
        return int(struct.unpack_from("I", raw, 4 * SK_MEMINFO_DROPS)[0])

    def _proc(self) -> int | None:
        inode = str(os.fstat(self.sock.fileno()).st_ino)
        table = "/proc/net/udp6" if self.sock.family == socket.AF_INET6 else "/proc/net/udp"
        try:
            with open(table) as file:
                for line in file:
                    fields = line.split()
                    if len(fields) > 12 and fields[9] == inode:  # the drops column is the last
                        return int(fields[-1])
        except (OSError, ValueError):
            return None
        return None


def sender_name(address: tuple[Any, ...]) -> str:
    """ "ip:port" of a sender, as GambolPutty wrote it; IPv4 senders of a dual-stack socket
    ("::ffff:10.0.0.1") are named by their IPv4 address."""
    host, port = address[0], address[1]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return f"{host}:{port}"
