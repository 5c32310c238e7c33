"""Real resources that module tests and examples use: a GeoLite2 database, a DNS server,
a web server. Each fails loudly when it cannot be had; none is mocked."""

from __future__ import annotations

import getpass
import importlib.util
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_for


def geolite2_city() -> Path:
    """The GeoLite2 City database (2018) that the PyPI package maxminddb-geolite2 ships."""
    spec = importlib.util.find_spec("_maxminddb_geolite2")
    if spec is None or spec.origin is None:
        pytest.fail("maxminddb-geolite2 is not installed: pip install -e '.[dev]'")
    path = Path(spec.origin).parent / "GeoLite2-City.mmdb"
    if not path.is_file():
        pytest.fail(f"maxminddb-geolite2 is installed but {path} is missing")
    return path


DNS_HOSTS = """\
192.0.2.10 host.example.com
192.0.2.11 www.example.com
192.0.2.12 other.example.com
2001:db8::10 host.example.com
"""
"""What the test nameserver knows (documentation addresses, RFC 5737 and 3849)."""


@dataclass
class DnsServer:
    """A dnsmasq we started on a loopback port, answering only from DNS_HOSTS."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def answers(self) -> bool:
        import dns.exception
        import dns.nameserver
        import dns.resolver

        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", self.port)]
        resolver.lifetime = 0.5
        try:
            resolver.resolve("host.example.com", "A")
        except dns.exception.DNSException:
            return False
        return True

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def start_dnsmasq(workdir: Path) -> DnsServer:
    """dnsmasq on a free loopback port: no upstream, no /etc/hosts, never the internet."""
    binary = shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin:/sbin")
    if binary is None:
        pytest.fail(
            "dnsmasq is not installed: run scripts/test, which installs it "
            "(apt-get install dnsmasq-base)"
        )
    hosts = workdir / "hosts"
    hosts.write_text(DNS_HOSTS)
    log = workdir / "dnsmasq.log"
    port = free_port()
    command = [
        binary, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
        f"--addn-hosts={hosts}", f"--port={port}", "--listen-address=127.0.0.1",
        "--bind-interfaces", f"--pid-file={workdir / 'dnsmasq.pid'}", "--local-ttl=60",
        f"--user={getpass.getuser()}", f"--log-facility={log}",
        # authoritative for the test zones: unknown names there are NXDOMAIN, not REFUSED
        "--local=/example.com/", "--local=/2.0.192.in-addr.arpa/",
    ]  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = DnsServer(port, process, log)
    try:
        wait_for(lambda: process.poll() is None and server.answers(), 10, f"dnsmasq (log: {log})")
    except AssertionError:
        server.stop()
        pytest.fail(f"dnsmasq did not start: {log.read_text(errors='replace')[-2000:]}")
    return server
