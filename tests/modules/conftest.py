"""Servers that module tests (and the examples of the modules that need one) share."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.modules.services import DnsServer, WebServer, start_dnsmasq, start_web_server


@pytest.fixture(scope="session")
def dns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsServer]:
    server = start_dnsmasq(tmp_path_factory.mktemp("dnsmasq"))
    yield server
    server.stop()


@pytest.fixture
def silent_nameserver() -> Iterator[str]:
    """A loopback UDP port that takes queries and never answers: 'ip:port'."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sink.getsockname()[1]}"


@pytest.fixture(scope="session")
def web_server() -> Iterator[WebServer]:
    server = start_web_server()
    yield server
    server.stop()
