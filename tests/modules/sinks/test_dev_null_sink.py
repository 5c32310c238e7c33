"""DevNullSink: accepts everything, keeps nothing, never fails."""

from __future__ import annotations

import pytest

from gp_celery.testing import build, run


def test_discards_without_failures(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(build("DevNullSink"), [{"data": "x"}, {"data": 10**5000}]) == []
    assert capsys.readouterr() == ("", "")


def test_lumbermill_name_is_accepted() -> None:
    assert build("output.DevNull").write([{"a": 1}]) == []
