"""EventBuffer: accepted, stands alone, and says once that it does nothing."""

from __future__ import annotations

import logging

import pytest

from gp_celery.config import parse_config
from gp_celery.testing import BuildError, build


def test_it_stands_alone_and_logs_once_that_it_is_not_needed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    build("EventBuffer", {"backend": "RedisStore", "gc_interval": 5, "key_prefix": "x"})
    assert [m for m in caplog.messages if "not needed here" in m] == [
        "EventBuffer: not needed here and does nothing: inputs, listeners and workers hold "
        "every event until the next step has it (see `gp-celery modules EventBuffer`)."
    ]
    config = parse_config("- StdIn\n- EventBuffer\n- DevNullSink\n")
    assert [r.target for r in config.nodes[0].receivers or []] == ["DevNullSink"]


def test_unknown_options_are_still_errors() -> None:
    with pytest.raises(BuildError, match="unknown option 'gc_intervall'"):
        build("EventBuffer", {"gc_intervall": 5})
