"""`gp-celery check`: its first line tells the truth about the exit code."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import gp


def test_strict_check_that_fails_says_failed_and_why_not_ok(tmp_path: Path) -> None:
    config = tmp_path / "unbuilt.yml"
    config.write_text("- StdIn\n- ZabbixSink\n")  # a module no issue plans to build
    result = gp("check", "--strict", "-c", str(config))
    assert result.returncode == 1
    lines = result.stdout.decode().splitlines()
    assert lines[0] == f"{config}: FAILED (--strict): 1 of 2 modules are not built yet"
    assert "OK" not in result.stdout.decode()
    assert "  ZabbixSink (sink, not built yet) [queue gp-celery]" in lines
    assert any(line.startswith(f"{config}:2: ZabbixSink: not built yet") for line in lines)


def test_strict_check_of_the_full_example_is_ok_now_that_every_module_is_built() -> None:
    result = gp("check", "--strict", "-c", "conf/example-full.yml")
    assert result.returncode == 0, result.stdout.decode()
    assert result.stdout.decode().startswith("conf/example-full.yml: OK: 15 modules\n")
    assert "  ElasticSearchSink (sink) [queue gp-celery]" in result.stdout.decode()


def test_strict_check_of_a_config_of_built_modules_is_ok() -> None:
    result = gp("check", "--strict", "-c", "conf/example-stdin.yml")
    assert result.returncode == 0
    assert result.stdout.decode().startswith("conf/example-stdin.yml: OK: 3 modules\n")
