"""Every module's documented examples (what `gp-celery modules NAME` shows) do what they say."""

from __future__ import annotations

import pytest

from gp_celery.event import event_type
from gp_celery.modules.base import Example, Input, Sink
from gp_celery.modules.registry import all_modules
from gp_celery.testing import build, run

CASES = [
    pytest.param(name, example, id=f"{name}-{index}")
    for name, cls in all_modules().items()
    for index, example in enumerate(cls.examples)
]


def test_every_transforming_module_documents_an_example() -> None:
    missing = [
        name
        for name, cls in all_modules().items()
        if not cls.examples
        and not issubclass(cls, (Input, Sink))
        and name not in ("DropEvent", "SimpleStats")
        and cls.__module__.startswith(("gp_celery.", "gp_celery_inputs."))  # not tests' own plugins
    ]
    assert missing == []


@pytest.mark.parametrize(("name", "example"), CASES)
def test_example(name: str, example: Example) -> None:
    out = run(build(name, example.options), example.given)
    assert len(out) == len(example.expect)
    for got, expected in zip(out, example.expect, strict=True):
        assert {key: got.get(key) for key in expected} == expected
        if example.event_type is not None:
            assert event_type(got) == example.event_type
