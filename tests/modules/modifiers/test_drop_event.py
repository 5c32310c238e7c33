"""DropEvent: every event it is given is dropped; a filter makes it selective."""

from __future__ import annotations

from pathlib import Path

from gp_celery.testing import build, pipeline, run


def test_drops_everything() -> None:
    assert run(build("DropEvent"), [{"data": "a"}, {"data": "b"}]) == []


def test_lumbermill_name_is_accepted() -> None:
    assert run(build("modifier.DropEvent"), [{"data": "a"}]) == []


def test_with_filter_only_matching_events_are_dropped(tmp_path: Path) -> None:
    config = tmp_path / "drop.yml"
    config.write_text("- DropEvent:\n   filter: $(level) == 'debug'\n- DevNullSink\n")
    out = run(pipeline(config), [{"level": "debug"}, {"level": "error"}, {"data": "x"}])
    assert sorted(event.get("level", "-") for event in out) == ["-", "error"]
