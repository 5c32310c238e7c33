"""The gp-celery command as a user runs it: real processes, real stdin, real sockets, `nc`."""

from __future__ import annotations

import ast
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from gp_celery.config import parse_config
from tests.conftest import free_port, wait_for
from tests.e2e.conftest import GP, ROOT, gp

SEED_LINE = '192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 3395\n'


def test_seed_stdin_example_prints_the_seed_fields() -> None:
    result = gp("run", "-c", "conf/example-stdin.yml", stdin=SEED_LINE.encode())
    assert result.returncode == 0, result.stderr.decode()
    event = ast.literal_eval(result.stdout.decode())
    meta = event.pop("gambolputty")
    assert event == {
        "bytes_send": "3395",
        "data": SEED_LINE,
        "datetime": "28/Jul/2006:10:27:10 -0300",
        "http_status": "200",
        "identd": "-",
        "remote_ip": "192.168.2.20",
        "url": "GET /cgi-bin/try/ HTTP/1.0",
        "user": "-",
    }
    assert meta["event_type"] == "httpd_access_log"
    assert meta["source_module"] == "StdIn"
    assert meta["received_from"].startswith("stdin://")
    assert meta["event_id"]


def test_readme_first_command_processes_every_sample_line() -> None:
    sample = (ROOT / "conf/samples/access.log").read_bytes()
    result = gp("run", "-c", "conf/example-stdin.yml", stdin=sample)
    assert result.returncode == 0, result.stderr.decode()
    printed = result.stdout.decode().count("'gambolputty'")
    assert printed == sample.count(b"\n")


def test_hostile_stdin_is_tagged_not_fatal() -> None:
    garbage = b"\xff\xfe\x00binary\x00\n" + b"x" * (3 << 20) + b"\n" + b"\xc3\x28 bad utf8\n"
    result = gp("run", "-c", "conf/example-stdin.yml", stdin=garbage)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    events = [ast.literal_eval(block) for block in _pprint_blocks(result.stdout.decode())]
    assert len(events) == 3
    assert all(event["gambolputty"]["event_type"] == "Unknown" for event in events)
    reasons = [e["reason"] for ev in events for e in ev["gambolputty"].get("errors", [])]
    assert any("UTF-8" in reason for reason in reasons)
    assert any("max_line_bytes" in reason for reason in reasons)


def _pprint_blocks(text: str) -> list[str]:
    blocks, current = [], []
    for line in text.splitlines(keepends=True):
        if line.startswith("{") and current:
            blocks.append("".join(current))
            current = []
        current.append(line)
    if current:
        blocks.append("".join(current))
    return blocks


def test_tcp_pipeline_with_nc_then_sigterm_flushes_everything(tmp_path: Path) -> None:
    nc = shutil.which("nc")
    assert nc, "netcat-openbsd (nc) is needed; scripts/test installs it"
    port = free_port()
    env = {"GP_TCP_PORT": str(port), "GP_OUT_DIR": str(tmp_path)}
    server = subprocess.Popen(
        [GP, "run", "-c", "conf/tcp-to-file.yml"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_port(port, server)
        sample = ROOT / "conf/samples/access.log"
        with sample.open("rb") as source:
            subprocess.run([nc, "-N", "127.0.0.1", str(port)], stdin=source, check=True, timeout=30)
        time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, err.decode()[-2000:]
    files = list(tmp_path.glob("access-*.jsonl"))
    assert len(files) == 1
    stored = [orjson.loads(line) for line in files[0].read_bytes().splitlines()]
    lines = sample.read_bytes().splitlines()
    unparsed = out.decode().count("'gambolputty'")
    # Grok COMBINEDAPACHELOG needs the combined format: the seed line and the junk line
    # are printed as Unknown, every other line is stored; none is lost.
    assert len(stored) + unparsed == len(lines)
    assert len(stored) == len(lines) - 2
    assert all(isinstance(event["response"], int) for event in stored)
    assert all("@timestamp" in event for event in stored)


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.05)
        else:
            return
    raise AssertionError(f"nothing listens on port {port}")


def test_check_passes_seed_configs_and_names_unbuilt_modules(tmp_path: Path) -> None:
    result = gp("check", "-c", "conf/example-full.yml")
    assert result.returncode == 0, result.stdout.decode()
    text = result.stdout.decode()
    assert text.startswith("conf/example-full.yml: OK: 15 modules\n")
    assert "  ElasticSearchSink (sink) [queue gp-celery]\n" in text
    config = tmp_path / "unbuilt.yml"
    config.write_text("- StdIn\n- ZabbixSink\n")  # a module no issue plans to build
    result = gp("check", "-c", str(config))
    assert result.returncode == 0, result.stdout.decode()
    text = result.stdout.decode()
    assert text.startswith(f"{config}: OK: 2 modules (1 not built yet)\n")
    assert "  StdIn (input) [queue gp-celery] -> ZabbixSink\n" in text
    assert "  ZabbixSink (sink, not built yet) [queue gp-celery]\n" in text
    assert "ZabbixSink: not built yet" in text


def test_run_refuses_a_config_with_unbuilt_modules(tmp_path: Path) -> None:
    config = tmp_path / "unbuilt.yml"
    config.write_text("- StdIn\n- ZabbixSink\n")
    result = gp("run", "-c", str(config))
    assert result.returncode == 1
    assert b"these modules are not built yet: ZabbixSink\n" in result.stderr


def test_check_reports_errors_with_lines_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "- StdIn\n- RegexParser:\n    field_extraction_patterns: [{a: '(x'}]\n- StdOutSnk\n"
    )
    result = gp("check", "-c", str(bad))
    assert result.returncode == 1
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{bad}:3: RegexParser: ")
    assert (
        lines[1] == f"{bad}:4: StdOutSnk: unknown module 'StdOutSnk' (did you mean 'StdOutSink'?)"
    )
    assert "Traceback" not in result.stderr.decode()


def test_config_from_gp_config_env() -> None:
    result = gp("check", env={"GP_CONFIG": "conf/example-stdin.yml"})
    assert result.returncode == 0


def test_modules_lists_built_and_unbuilt_and_shows_one() -> None:
    listing = gp("modules").stdout.decode()
    assert "RegexParser" in listing
    assert "AddGeoInfo" in listing
    assert "not built yet" in listing
    page = gp("modules", "parser.Regex")
    assert page.returncode == 0
    text = page.stdout.decode()
    assert "field_extraction_patterns" in text
    assert "Example:" in text
    assert gp("modules", "NoSuchModule").returncode == 1


@pytest.mark.parametrize("command", [[], ["run"], ["check"], ["modules"]])
def test_help_on_every_command(command: list[str]) -> None:
    result = gp(*command, "--help")
    assert result.returncode == 0
    assert b"usage: gp-celery" in result.stdout


def test_version() -> None:
    assert gp("--version").stdout.decode().startswith("gp-celery ")


def test_workers_above_one_gives_the_embedded_output() -> None:
    """--workers 2: private redis-server, a Celery worker with 2 processes, the listener."""
    sample = (ROOT / "conf/samples/access.log").read_bytes()
    embedded = gp("run", "-c", "conf/example-stdin.yml", stdin=sample)
    cluster = gp("run", "--workers", "2", "-c", "conf/example-stdin.yml", stdin=sample)
    assert cluster.returncode == 0, cluster.stderr.decode()[-3000:]

    def without_ids(output: bytes) -> list[str]:
        events = [ast.literal_eval(block) for block in _pprint_blocks(output.decode())]
        for event in events:
            del event["gambolputty"]["event_id"]
        return sorted(repr(sorted(event.items())) for event in events)

    assert without_ids(cluster.stdout) == without_ids(embedded.stdout)
    assert len(without_ids(cluster.stdout)) == sample.count(b"\n")


def test_every_module_page_renders() -> None:
    from gp_celery.docs import all_docs
    from gp_celery.report import module_text

    for doc in all_docs():
        text = module_text(doc)
        assert text.startswith(doc.name)
        for option in doc.options:
            assert f"  {option.name}: " in text


def test_check_prints_the_stage_queue_of_every_node(tmp_path: Path) -> None:
    config = tmp_path / "stages.yml"
    config.write_text(
        "- StdIn\n- RegexParser:\n    field_extraction_patterns: [{a: 'x'}]\n"
        "- AddDateTime:\n    queue: slow\n- DevNullSink\n"
    )
    lines = gp("check", "-c", str(config)).stdout.decode().splitlines()
    assert lines[1:5] == [
        "  StdIn (input) [queue gp-celery] -> RegexParser",
        "  RegexParser (parser) [queue gp-celery] -> AddDateTime",
        "  AddDateTime (modifier) [queue slow] -> DevNullSink",
        "  DevNullSink (sink) [queue slow]",
    ]
    digests = parse_config(config.read_text(), str(config)).digests
    assert lines[5:] == [
        f"  stage {queue}: digest {digests[queue][:16]} (what its workers run; tasks carry it)"
        for queue in ("gp-celery", "slow")
    ]


def test_workers_without_redis_server_says_how_to_install_it(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # a PATH with Python but no redis-server
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    result = gp(
        "run",
        "--workers",
        "2",
        "-c",
        "conf/example-stdin.yml",
        stdin=SEED_LINE.encode(),
        env={"PATH": str(bin_dir)},
    )
    assert result.returncode == 2
    assert b"redis-server is not installed" in result.stderr
    assert b"apt-get install redis-server" in result.stderr
    assert result.stdout == b""


def test_sighup_reopens_the_sink_files_after_logrotate_moved_them(tmp_path: Path) -> None:
    nc = shutil.which("nc")
    assert nc, "netcat-openbsd (nc) is needed; scripts/test installs it"
    port, out, log = free_port(), tmp_path / "events.log", tmp_path / "stderr.log"
    config = tmp_path / "p.yml"
    config.write_text(
        f"- TcpServer: {{interface: 127.0.0.1, port: {port}}}\n"
        f"- FileSink: {{file_name: '{out}', batch_size: 1}}\n"
    )
    with log.open("wb") as stderr:
        server = subprocess.Popen([GP, "run", "-c", str(config)], cwd=ROOT, stderr=stderr)

    def send(lines: str) -> None:
        subprocess.run(
            [nc, "-N", "127.0.0.1", str(port)], input=lines.encode(), timeout=30, check=True
        )

    try:
        _wait_for_port(port, server)
        send("before one\nbefore two\n")
        wait_for(lambda: out.exists() and out.read_text().count("\n") == 2, 20, "2 lines")
        out.rename(tmp_path / "events.log.1")  # what logrotate does, before it signals
        server.send_signal(signal.SIGHUP)
        wait_for(lambda: b"reopened its files" in log.read_bytes(), 20, "the reopen")
        send("after one\n")
        wait_for(lambda: out.exists() and out.read_text().count("\n") == 1, 20, "a new file")
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    err = log.read_text()
    assert server.returncode == 0, err[-2000:]
    assert (tmp_path / "events.log.1").read_text() == "before one\nbefore two\n"
    assert out.read_text() == "after one\n"
    assert "Received SIGHUP" in err
    assert "FileSink: reopened its files." in err
