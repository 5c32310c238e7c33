"""ZeroMQ addresses as GambolPutty wrote them ('host:port'), shared by ZmqSink and Zmq."""

from __future__ import annotations

import contextlib
import socket


def check_address(address: str, *, port_zero: bool = False) -> str:
    """A 'host:port' (``port_zero``: port 0 allowed, to bind a free port) or a full ZeroMQ
    endpoint; raises ValueError for anything else."""
    if "://" in address:
        return address
    host, colon, port = address.rpartition(":")
    lowest = 0 if port_zero else 1
    if not colon or not host or not port.isdigit() or not lowest <= int(port) < 65536:
        raise ValueError(f"expected 'host:port' or a ZeroMQ endpoint, got {address!r}")
    return address


def endpoint(address: str) -> str:
    """The ZeroMQ endpoint of a 'host:port' (the host resolved, as GambolPutty did)."""
    if "://" in address:
        return address
    host, _, port = address.rpartition(":")
    if host != "*":
        with contextlib.suppress(OSError):  # else ZeroMQ resolves it (or names the problem)
            host = socket.gethostbyname(host)
    return f"tcp://{host}:{port}"
