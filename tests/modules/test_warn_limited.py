"""Module.warn_limited: the one way a module rate-limits a repeated warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gp_celery.testing import build, run


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING)
    return caplog


def test_a_repeated_warning_is_logged_once_then_with_the_count_left_out(
    warnings: pytest.LogCaptureFixture,
) -> None:
    module = build("DevNullSink", node_id="null")
    for number in range(3):
        module.warn_limited("full", "queue full (%d).", number)
    assert warnings.messages == ["DevNullSink 'null': queue full (0)."]
    module.warn_limited("full", "queue full (%d).", 3, every=0.0)  # the interval has passed
    assert (
        warnings.messages[-1]
        == "DevNullSink 'null': queue full (3) (2 similar warnings suppressed)."
    )
    module.warn_limited("full", "queue full (%d).", 4, every=0.0)
    assert warnings.messages[-1] == "DevNullSink 'null': queue full (4)."


def test_each_key_has_its_own_limit(warnings: pytest.LogCaptureFixture) -> None:
    module = build("DevNullSink")
    module.warn_limited("write", "writing failed.")
    module.warn_limited("fsync", "fsync failed.")
    module.warn_limited("write", "writing failed.")
    assert warnings.messages == ["DevNullSink: writing failed.", "DevNullSink: fsync failed."]


def test_modules_do_not_share_limits(warnings: pytest.LogCaptureFixture) -> None:
    build("DevNullSink", node_id="a").warn_limited("full", "full.")
    build("DevNullSink", node_id="b").warn_limited("full", "full.")
    assert len(warnings.messages) == 2


def test_file_sink_warns_once_for_a_failure_that_repeats(
    tmp_path: Path, warnings: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("")
    module = build("FileSink", {"file_name": str(tmp_path / "file" / "x.log")})  # ENOTDIR
    for _ in range(3):
        [failed] = run(module, [{"data": "x"}])
        assert "Not a directory" in failed["gambolputty"]["errors"][0]["reason"]
    [message] = warnings.messages
    assert message.startswith("FileSink: writing ")
    assert message.endswith("; the events go to the dead letters.")
