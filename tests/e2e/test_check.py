"""`gp-celery check`: its first line tells the truth about the exit code."""

from __future__ import annotations

from tests.e2e.conftest import gp


def test_strict_check_that_fails_says_failed_and_why_not_ok() -> None:
    result = gp("check", "--strict", "-c", "conf/example-full.yml")
    assert result.returncode == 1
    lines = result.stdout.decode().splitlines()
    assert lines[0] == (
        "conf/example-full.yml: FAILED (--strict): 1 of 15 modules are not built yet"
    )
    assert "OK" not in result.stdout.decode()
    assert "  ElasticSearchSink (sink, not built yet) [queue gp-celery]" in lines
    assert any(
        line.startswith("conf/example-full.yml:98: ElasticSearchSink: not built yet")
        for line in lines
    )


def test_strict_check_of_a_config_of_built_modules_is_ok() -> None:
    result = gp("check", "--strict", "-c", "conf/example-stdin.yml")
    assert result.returncode == 0
    assert result.stdout.decode().startswith("conf/example-stdin.yml: OK: 3 modules\n")
