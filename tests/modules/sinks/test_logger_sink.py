"""LoggerSink: rendered lines through Python logging, one record per line."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gp_celery.testing import BuildError, build, run

LOGGER = "gp_celery.sink.LoggerSink"


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def test_every_format_is_logged_per_event_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    module = build("LoggerSink", {"formats": ["## stats ##", "events: $(total_count)"]})
    assert run(module, [{"total_count": 5}, {"total_count": 7}]) == []
    assert lines(caplog) == [
        (logging.INFO, "## stats ##"),
        (logging.INFO, "events: 5"),
        (logging.INFO, "## stats ##"),
        (logging.INFO, "events: 7"),
    ]


def test_level_is_chosen_and_empty_lines_are_left_out(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    module = build("LoggerSink", {"formats": ["$(missing)", "x $(a)"], "level": "warning"})
    assert run(module, [{"a": 1}]) == []
    assert lines(caplog) == [(logging.WARNING, "x 1")]


def test_records_name_the_node(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    run(build("LoggerSink", {"formats": ["x"]}, node_id="stats-log"), [{}])
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert record.node == "stats-log"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"a": "y" * 100}, "more than max_line_chars (50)"),
        ({"a": 10**5000}, "cannot render"),
    ],
)
def test_hostile_events_fail_alone_and_log_nothing(
    caplog: pytest.LogCaptureFixture, event: dict[str, Any], reason: str
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    module = build("LoggerSink", {"formats": ["first", "$(a)"], "max_line_chars": 50})
    failed = run(module, [event, {"a": "ok"}])
    assert len(failed) == 1
    assert reason in failed[0]["gambolputty"]["errors"][0]["reason"]
    assert [text for _, text in lines(caplog)] == ["first", "ok"]


def test_formats_are_required_and_checked_at_load() -> None:
    with pytest.raises(BuildError, match="formats"):
        build("LoggerSink", {})
    with pytest.raises(BuildError, match="formats"):
        build("LoggerSink", {"formats": []})
    with pytest.raises(BuildError, match="level"):
        build("LoggerSink", {"formats": ["x"], "level": "loud"})
    assert build("output.Logger", {"formats": ["x"]}).name == "LoggerSink"
