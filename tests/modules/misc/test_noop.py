"""Noop: events pass unchanged; the node keys still apply."""

from __future__ import annotations

from gp_celery.testing import build, run


def test_events_pass_unchanged_and_node_keys_apply() -> None:
    out = run(build("misc.Noop", {"add_fields": {"b": 2}}), [{"a": 1}, {"a": [None]}])
    assert [{k: v for k, v in e.items() if k != "gambolputty"} for e in out] == [
        {"a": 1, "b": 2},
        {"a": [None], "b": 2},
    ]
