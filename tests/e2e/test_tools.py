"""`gp-celery graph`, `gp-celery test` and `gp-celery check --samples` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from gp_celery.config import load_config
from tests.e2e.conftest import GP, ROOT, gp

ANCHORED = """\
- StdIn
- RegexParser:
    field_extraction_patterns: [{get: '^x* ?GET (?P<code>\\d+)$'}]
- StdOutSink
"""


def test_graph_draws_the_full_example_as_svg_with_every_node(tmp_path: Path) -> None:
    out = tmp_path / "pipeline.svg"
    result = gp("graph", "-c", "conf/example-full.yml", "-o", str(out))
    assert result.returncode == 0, result.stderr.decode()
    shown = "\n".join(ET.fromstring(out.read_bytes()).itertext())
    ids = [node.id for node in load_config(ROOT / "conf/example-full.yml").nodes]
    assert [node_id for node_id in ids if node_id not in shown] == []
    assert "stage gp-celery" in shown


def test_graph_without_graphviz_says_svg_needs_it(tmp_path: Path) -> None:
    no_dot = {"PATH": str(tmp_path)}  # an empty directory: no `dot` anywhere
    result = gp("graph", "-c", "conf/tcp-to-file.yml", "-o", str(tmp_path / "p.svg"), env=no_dot)
    assert result.returncode == 2
    assert "apt-get install graphviz" in result.stderr.decode()
    assert not (tmp_path / "p.svg").exists()


def test_test_command_passes_the_example_test_file() -> None:
    result = gp("test", "conf/tcp-to-file.test.yml")
    assert result.returncode == 0, result.stdout.decode()
    assert result.stdout.decode().splitlines()[-1] == "4 passed, 0 failed (1 file)"


def test_test_command_prints_a_diff_and_exits_1_when_a_case_fails(tmp_path: Path) -> None:
    tests = tmp_path / "wrong.test.yml"
    tests.write_text(
        f"config: {ROOT}/conf/tcp-to-file.yml\n"
        "tests:\n"
        "  - name: wrong status\n"
        "    insert_at: ModifyFields\n"
        "    events: [{response: '404', bytes: '1'}]\n"
        "    expect: [{reaches: FileSink, fields: {response: 200}}]\n"
    )
    result = gp("test", str(tests))
    assert result.returncode == 1
    out = result.stdout.decode()
    assert f"FAIL wrong status  ({tests}:3)" in out
    assert "- response: 200\n" in out
    assert "+ response: 404\n" in out
    assert out.splitlines()[-1] == "0 passed, 1 failed (1 file)"


def test_test_command_names_the_line_of_a_bad_test_file_and_runs_nothing(tmp_path: Path) -> None:
    tests = tmp_path / "bad.test.yml"
    tests.write_text(
        f"config: {ROOT}/conf/tcp-to-file.yml\n"
        "tests:\n"
        "  - name: typo\n"
        "    events: [{data: x}]\n"
        "    expected: []\n"
    )
    result = gp("test", str(tests))
    assert result.returncode == 2
    assert result.stderr.decode().splitlines() == [
        f"{tests}:5: test 'typo': expected: unknown option 'expected' (did you mean 'expect'?)"
    ]
    assert result.stdout.decode() == ""


def test_test_command_with_a_missing_config_exits_2(tmp_path: Path) -> None:
    orphan = tmp_path / "orphan.test.yml"
    orphan.write_text("tests: [{name: x, events: [{data: x}], dropped: true}]\n")
    result = gp("test", str(orphan))
    assert result.returncode == 2
    assert f"{tmp_path}/orphan.yml:1: cannot read" in result.stderr.decode()


def test_check_samples_reports_the_access_log_through_the_parser() -> None:
    result = gp("check", "-c", "conf/tcp-to-file.yml", "--samples", "conf/samples/access.log")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert "samples: conf/samples/access.log: 10 records (lines of input 'TcpServer')" in out
    assert "  RegexParser: 8 of 10 matched (80.0%); 2 unmatched" in out
    assert "    event types: httpd_access_log 8" in out
    assert "    not matched, record 10 (marked Unknown): this line is not an access log" in out


def test_check_samples_stops_at_the_limit(tmp_path: Path) -> None:
    config, log = tmp_path / "get.yml", tmp_path / "big.log"
    config.write_text(ANCHORED)
    log.write_bytes(b"GET 200\n" * 500_000)
    result = gp("check", "-c", str(config), "--samples", str(log), "--limit", "5")
    assert result.returncode == 0, result.stderr.decode()
    assert f"samples: {log}: 5 records" in result.stdout.decode()
    assert "  RegexParser: 5 of 5 matched (100.0%)" in result.stdout.decode()


def test_check_samples_reads_a_150_mib_line_in_bounded_memory(tmp_path: Path) -> None:
    config, log = tmp_path / "get.yml", tmp_path / "huge.log"
    config.write_text(ANCHORED)
    with log.open("wb") as file:
        for _ in range(150):
            file.write(b"x" * (1 << 20))
        file.write(b" GET 200\nGET 1\n")
    # A fresh Python measures the peak memory of its only child, gp-celery.
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "sys.stdout.buffer.write(done.stdout)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    command = [GP, "check", "-c", str(config), "--samples", str(log)]
    result = subprocess.run(
        [sys.executable, "-c", probe, *command], capture_output=True, timeout=120, check=False
    )
    lines = result.stdout.decode().splitlines()
    code, peak_kib = lines[-1].split()
    assert code == "0"
    assert int(peak_kib) < 120 * 1024, f"peak {int(peak_kib) >> 10} MiB for a 150 MiB line"
    assert "  RegexParser: 1 of 2 matched (50.0%); 1 tagged with an error" in lines
