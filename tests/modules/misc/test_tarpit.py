"""Tarpit: each event is held ``delay`` seconds."""

from __future__ import annotations

import time

import pytest

from gp_celery.testing import BuildError, build, run


def test_each_event_is_held_for_the_delay() -> None:
    module = build("Tarpit", {"delay": 0.02})
    started = time.monotonic()
    out = run(module, [{"n": 1}, {"n": 2}, {"n": 3}])
    assert time.monotonic() - started >= 0.06
    assert [event["n"] for event in out] == [1, 2, 3]


@pytest.mark.parametrize("delay", [-1, "soon", 10_000])
def test_a_bad_delay_is_a_config_error(delay: object) -> None:
    with pytest.raises(BuildError, match="delay"):
        build("Tarpit", {"delay": delay})
