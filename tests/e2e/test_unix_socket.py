"""`gp-celery run` with a LumberMill-style stream UnixSocket and a datagram one (a /dev/log
stand-in): real `nc -U` and `logger -u` clients, events in a FileSink, sockets removed at
the end."""

from __future__ import annotations

import shutil
import signal
import socket
import stat
import subprocess
from pathlib import Path

import orjson

from tests.conftest import ROOT, wait_for
from tests.e2e.conftest import GP


def test_run_serves_stream_and_datagram_unix_sockets(tmp_path: Path) -> None:
    nc, logger = shutil.which("nc"), shutil.which("logger")
    assert nc, "nc (Debian netcat-openbsd) is needed; scripts/test installs it"
    assert logger, "logger (Debian bsdutils) is needed; scripts/test installs it"
    lines, dev_log, out = tmp_path / "lines.sock", tmp_path / "dev-log", tmp_path / "out.jsonl"
    config = tmp_path / "pipeline.yml"
    config.write_text(
        f"""- input.UnixSocket:
   path_to_socket: {lines}
   receivers: [sink]
- UnixSocket:
   path_to_socket: {dev_log}
   socket_type: datagram
   socket_mode: '0666'
   receivers: [sink]
- FileSink:
   id: sink
   file_name: {out}
   json_lines: true
"""
    )
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen([GP, "run", "-c", str(config)], cwd=ROOT, stderr=stderr)
    try:
        wait_for(
            lambda: all(f"listening on {path}" in log.read_text() for path in (lines, dev_log)),
            30,
            f"both sockets to listen ({log})",
        )
        assert stat.S_IMODE(dev_log.stat().st_mode) == 0o666
        payload = b"".join(b"line %d\r\n" % n for n in range(200))
        subprocess.run([nc, "-N", "-U", str(lines)], input=payload, timeout=20, check=True)
        subprocess.run(
            [logger, "-u", str(dev_log), "--socket-errors=on", "-t", "app", "via logger"],
            timeout=20,
            check=True,
        )
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.sendto(b"\xff not utf-8", str(dev_log))

        def stored() -> list[dict[str, object]]:
            raw = out.read_bytes() if out.exists() else b""
            return [orjson.loads(row) for row in raw[: raw.rfind(b"\n") + 1].splitlines()]

        wait_for(lambda: len(stored()) >= 202, 30, f"202 events in {out} ({log})")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    events = stored()
    assert len(events) == 202
    by_source: dict[str, list[str]] = {}
    for event in events:
        meta = event["gambolputty"]
        assert isinstance(meta, dict)
        by_source.setdefault(meta["received_from"], []).append(str(event["data"]))
    assert by_source[str(lines)] == [f"line {n}" for n in range(200)]
    datagrams = by_source[str(dev_log)]
    assert len(datagrams) == 2
    assert any(text.endswith("app: via logger") for text in datagrams)
    assert "\ufffd not utf-8" in datagrams
    assert not lines.exists()
    assert not dev_log.exists()
