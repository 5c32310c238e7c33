"""The documented examples of ModifyFields, AddDateTime and DropEvent do what they say."""

from __future__ import annotations

import pytest

from gp_celery.event import event_type
from gp_celery.modules.base import Example
from gp_celery.modules.registry import lookup
from gp_celery.testing import build, run

CASES = [
    pytest.param(name, example, id=f"{name}-{index}")
    for name in ("ModifyFields", "AddDateTime", "DropEvent")
    for index, example in enumerate(lookup(name).examples)  # type: ignore[union-attr]
]


@pytest.mark.parametrize(("name", "example"), CASES)
def test_example(name: str, example: Example) -> None:
    out = run(build(name, example.options), example.given)
    assert len(out) == len(example.expect)
    for got, expected in zip(out, example.expect, strict=True):
        assert {key: got.get(key) for key in expected} == expected
        if example.event_type is not None:
            assert event_type(got) == example.event_type
