"""Real receivers for the network sinks' tests and examples: syslog-ng, carbon-cache (reading
the stored whisper data back), a TCP line collector and a UDP socket. Each is started on
free loopback ports and fails loudly when it cannot start; none is a mock."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_for

END = "<<END>>"
"""syslog-ng writes each message followed by this and a newline, so a message with
newlines in it (octet counting carries them) is still one record."""

SYSLOG_NG_CONFIG = """\
@version: {version}
options {{ keep-hostname(yes); chain-hostnames(no); log-msg-size(1048576); stats_freq(0); }};
source s_tcp {{ syslog(ip("127.0.0.1") port({tcp}) transport("tcp")); }};
source s_text {{ network(ip("127.0.0.1") port({text}) transport("tcp")); }};
source s_udp {{ syslog(ip("127.0.0.1") port({udp}) transport("udp")); }};
source s_unix {{ unix-dgram("{unix}"); }};
source s_ustream {{ unix-stream("{ustream}"); }};
destination d_file {{ file("{out}" template("{template}")); }};
log {{ source(s_tcp); source(s_text); source(s_udp); source(s_unix); source(s_ustream);
    destination(d_file); }};
"""


TEMPLATE = "\\t".join(["${FACILITY}", "${LEVEL}", "${HOST}", "${PROGRAM}", "${PID}", "${MSG}"])
TEMPLATE += END + "\\n"
"""One record per message: tab-separated fields, the message last (it may hold tabs)."""


@dataclass(frozen=True)
class SyslogRecord:
    facility: str
    level: str
    host: str
    program: str
    pid: str
    message: str


@dataclass
class SyslogNg:
    """A syslog-ng we started: octet-counted TCP (syslog()), newline TCP (network()), UDP,
    a unix datagram and a unix stream socket, all written to one file."""

    workdir: Path
    tcp_port: int = field(default_factory=free_port)
    text_port: int = field(default_factory=free_port)
    udp_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def unix_path(self) -> str:
        return str(self.workdir / "log.sock")

    @property
    def unix_stream_path(self) -> str:
        return str(self.workdir / "log-stream.sock")

    @property
    def out(self) -> Path:
        return self.workdir / "messages.log"

    @property
    def log(self) -> Path:
        return self.workdir / "syslog-ng.log"

    def start(self) -> None:
        binary = shutil.which("syslog-ng") or shutil.which("syslog-ng", path="/usr/sbin:/sbin")
        if binary is None:
            pytest.fail(
                "syslog-ng is not installed: run scripts/test, which installs it "
                "(apt-get install syslog-ng-core)"
            )
        version = _syslog_ng_version(binary)
        config = self.workdir / "syslog-ng.conf"
        config.write_text(
            SYSLOG_NG_CONFIG.format(
                version=version,
                tcp=self.tcp_port,
                text=self.text_port,
                udp=self.udp_port,
                unix=self.unix_path,
                ustream=self.unix_stream_path,
                out=self.out,
                template=TEMPLATE,
            )
        )
        command = [
            binary, "--foreground", "--no-caps", f"--cfgfile={config}",
            f"--persist-file={self.workdir / 'syslog-ng.persist'}",
            f"--pidfile={self.workdir / 'syslog-ng.pid'}",
            f"--control={self.workdir / 'syslog-ng.ctl'}", "--stderr",
        ]  # fmt: skip
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_for(self._listening, 15, f"syslog-ng (log: {self.log})")
        except AssertionError:
            self.stop()
            pytest.fail(f"syslog-ng did not start: {self.log.read_text(errors='replace')[-3000:]}")

    def _listening(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.tcp_port), timeout=0.2):
                pass
            with socket.create_connection(("127.0.0.1", self.text_port), timeout=0.2):
                pass
        except OSError:
            return False
        return Path(self.unix_path).exists() and Path(self.unix_stream_path).exists()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)

    def records(self) -> list[SyslogRecord]:
        if not self.out.exists():
            return []
        text = self.out.read_text(errors="replace")
        records = []
        for raw in text.split(END + "\n")[:-1]:
            facility, level, host, program, pid, message = raw.split("\t", 5)
            records.append(SyslogRecord(facility, level, host, program, pid, message))
        return records

    def wait_for_records(self, count: int, timeout: float = 15) -> list[SyslogRecord]:
        wait_for(lambda: len(self.records()) >= count, timeout, f"{count} messages in {self.out}")
        time.sleep(0.2)  # and no more than that
        return self.records()


def _syslog_ng_version(binary: str) -> str:
    """The config version line syslog-ng wants: its own major.minor."""
    output = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    for line in output.splitlines():
        if line.lower().startswith("config version:"):
            return line.split(":", 1)[1].strip()
    for line in output.splitlines():
        if line.startswith("syslog-ng"):
            return ".".join(line.split()[1].split(".")[:2])
    pytest.fail(f"cannot tell syslog-ng's version from: {output[:500]}")


def start_syslog_ng(workdir: Path) -> SyslogNg:
    server = SyslogNg(workdir)
    server.start()
    return server


CARBON_CONFIG = """\
[cache]
STORAGE_DIR = {storage}
LOCAL_DATA_DIR = {storage}/whisper
WHITELISTS_DIR = {storage}/lists
CONF_DIR = {conf}
LOG_DIR = {storage}/log
PID_DIR = {storage}
ENABLE_LOGROTATION = False
USER =
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {line}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = {pickle}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {query}
USE_FLOW_CONTROL = True
LOG_UPDATES = False
LOG_CREATES = True
LOG_LISTENER_CONNECTIONS = True
WHISPER_AUTOFLUSH = True
"""

STORAGE_SCHEMAS = """\
[everything]
pattern = .*
retentions = 1s:1h
"""


@dataclass
class Carbon:
    """A carbon-cache (Debian's graphite-carbon) we started, storing whisper files."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def storage(self) -> Path:
        return self.workdir / "storage"

    @property
    def log(self) -> Path:
        return self.workdir / "carbon.out"

    def start(self) -> None:
        binary = shutil.which("carbon-cache") or shutil.which("carbon-cache", path="/usr/bin")
        if binary is None:
            pytest.fail(
                "carbon-cache is not installed: run scripts/test, which installs it "
                "(apt-get install graphite-carbon)"
            )
        conf = self.workdir / "conf"
        conf.mkdir(exist_ok=True)
        (self.storage / "log").mkdir(parents=True, exist_ok=True)
        (conf / "storage-schemas.conf").write_text(STORAGE_SCHEMAS)
        (conf / "carbon.conf").write_text(
            CARBON_CONFIG.format(
                storage=self.storage,
                conf=conf,
                line=self.port,
                pickle=free_port(),
                query=free_port(),
            )
        )
        command = [
            binary, f"--config={conf / 'carbon.conf'}", "--debug",
            f"--pidfile={self.workdir / 'carbon.pid'}", "start",
        ]  # fmt: skip
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_for(self._listening, 30, f"carbon-cache (log: {self.log})")
        except AssertionError:
            self.stop()
            pytest.fail(
                f"carbon-cache did not start: {self.log.read_text(errors='replace')[-3000:]}"
            )

    def _listening(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def whisper_file(self, metric: str) -> Path:
        return self.storage / "whisper" / (metric.replace(".", "/") + ".wsp")

    def points(self, metric: str) -> dict[int, float]:
        """The stored (timestamp -> value) points of ``metric`` over the last hour."""
        import whisper

        path = self.whisper_file(metric)
        if not path.exists():
            return {}
        now = int(time.time())
        (start, _end, step), values = whisper.fetch(str(path), now - 3500, now + 60)
        return {start + at * step: value for at, value in enumerate(values) if value is not None}

    def wait_for_points(self, metric: str, count: int, timeout: float = 30) -> dict[int, float]:
        wait_for(
            lambda: len(self.points(metric)) >= count,
            timeout,
            f"{count} points of {metric} in whisper (log: {self.log})",
        )
        return self.points(metric)


def start_carbon(workdir: Path) -> Carbon:
    server = Carbon(workdir)
    server.start()
    return server


class LineCollector:
    """A TCP server (a thread) that keeps every line it receives, for Graphite's
    plaintext protocol; ``drop_clients()`` hangs up on everyone, as a restart would."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self.lines: list[str] = []
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="line-collector").start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self._clients.append(client)
            threading.Thread(target=self._read, args=(client,), daemon=True).start()

    def _read(self, client: socket.socket) -> None:
        buffer = b""
        while True:
            try:
                chunk = client.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            with self._lock:
                self.lines += [line.decode("utf-8", "replace") for line in complete]

    def wait_for_lines(self, count: int, timeout: float = 10) -> list[str]:
        wait_for(lambda: len(self.lines) >= count, timeout, f"{count} lines")
        return list(self.lines)

    def drop_clients(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()

    def close(self) -> None:
        self.drop_clients()
        self._server.close()


class DatagramReceiver:
    """A UDP socket bound to a free loopback port, read until quiet."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.sock.settimeout(0.5)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def receive(self, count: int) -> list[bytes]:
        datagrams = []
        while len(datagrams) < count:
            try:
                datagrams.append(self.sock.recv(65536))
            except TimeoutError:
                break
        return datagrams

    def close(self) -> None:
        self.sock.close()
