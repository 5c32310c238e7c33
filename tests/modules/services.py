"""Real resources that module tests and examples use: a GeoLite2 database, a DNS server,
a web server. Each fails loudly when it cannot be had; none is mocked."""

from __future__ import annotations

import getpass
import importlib.util
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

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


class _Handler(BaseHTTPRequestHandler):
    """Routes for HttpRequest's tests; each says in its name what it does."""

    protocol_version = "HTTP/1.1"
    hits: ClassVar[Counter[str]] = Counter()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        self.hits[path] += 1
        name = path.rsplit("/", 1)[-1]
        if path.startswith("/status/"):
            self._send(200, f"{name}: up".encode())
        elif path.startswith("/code/"):
            self._send(int(name), f"code {name}".encode())
        elif path == "/method":
            self._send(200, self.command.encode())
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/status/moved")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/latin1":
            self._send(200, "café".encode("latin-1"), "text/plain; charset=ISO-8859-1")
        elif path == "/bad-utf8":
            self._send(200, b"ok \xff\xfe end")
        elif path == "/slow":  # no answer within a test's timeout
            time.sleep(3)
            self._send(200, b"late")
        elif path == "/drip":  # headers at once, then a byte every 0.1 s for 3 s
            self.send_response(200)
            self.send_header("Content-Length", "30")
            self.end_headers()
            for _ in range(30):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        elif path.startswith("/huge"):  # 8 MiB, declared or (huge-chunked) not
            self._send_huge(declared=path == "/huge")
        elif path == "/reset":  # hang up without an answer
            self.close_connection = True
        else:
            self._send(404, b"no such page")

    do_HEAD = do_POST = do_DELETE = do_GET  # noqa: N815 - http.server's method names

    def _send_huge(self, *, declared: bool) -> None:
        self.send_response(200)
        if declared:
            self.send_header("Content-Length", str(8 << 20))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            for _ in range(128):
                self.wfile.write(b"y" * 65536)
        except OSError:  # the client stopped reading, as it should
            pass
        self.close_connection = True


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that give up (timeouts, size caps) are what the tests do on purpose


@dataclass
class WebServer:
    """A stdlib HTTP server we started in a thread on a free loopback port."""

    server: _QuietServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def hits(self, path: str) -> int:
        return _Handler.hits[path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_web_server() -> WebServer:
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()
    web = WebServer(server, thread)

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", server.server_address[1]), 0.2):
                return True
        except OSError:
            return False

    wait_for(answers, 10, "the test web server")
    return web


def served(options: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    """The example's options with the resources it names replaced by the real ones the
    tests provide: a GeoLite2 database, a nameserver, a web server (for 127.0.0.1:8080),
    packets to capture on loopback (for a capture on lo)."""
    options = dict(options)
    if "geoip_dat_path" in options:
        options["geoip_dat_path"] = str(geolite2_city())
    if "nameservers" in options:
        options["nameservers"] = request.getfixturevalue("dns_server").address
    if options.get("interface") == "lo":  # the Sniffer captures on loopback
        ping_loopback(request)
    url = options.get("url")
    if isinstance(url, str) and url.startswith("http://127.0.0.1:8080/"):
        base = request.getfixturevalue("web_server").url
        options["url"] = base + url.removeprefix("http://127.0.0.1:8080")
    return options


def ping_loopback(request: pytest.FixtureRequest, port: int = 9) -> None:
    """Send a UDP 'ping' to 127.0.0.1:port every 50 ms until the test ends (for examples
    that capture packets on loopback)."""
    stop = threading.Event()

    def ping() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            while not stop.wait(0.05):
                sender.sendto(b"ping", ("127.0.0.1", port))

    thread = threading.Thread(target=ping, name="ping-loopback", daemon=True)
    thread.start()
    request.addfinalizer(lambda: (stop.set(), thread.join(5)))
