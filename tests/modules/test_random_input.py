"""Property tests: whatever a parser or modifier finds in an event's fields (random bytes,
text with lone surrogates, numbers, None, lists, maps), ``process`` never raises. Each
module runs with the options of its documented examples; every field those examples give,
and ``data``, gets a random value. Trouble must become a tag (``fail``), not an exception.
That nothing is lost is each module's own hostile-input tests' job: what counts as lost
depends on the module (fan-out, drop by rule)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gp_celery.event import Event, metadata
from gp_celery.modules.base import Example, Modifier, Module, Parser
from gp_celery.modules.registry import all_modules
from gp_celery.testing import build
from tests.modules.services import served

SCALARS = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)

CASES = [
    pytest.param(name, index, id=f"{name}-{index}")
    for name, cls in sorted(all_modules().items())
    if issubclass(cls, (Parser, Modifier)) and cls.__module__.startswith("gp_celery.")
    for index, _ in enumerate(cls.examples)
]


_built: dict[tuple[str, int], tuple[Module[Any], Example]] = {}


def module_for(
    name: str, index: int, request: pytest.FixtureRequest
) -> tuple[Module[Any], Example]:
    """Built once per example, with the real resources its options name (``served``)."""
    if (name, index) not in _built:
        example = all_modules()[name].examples[index]
        _built[name, index] = build(name, served(example.options, request)), example
    return _built[name, index]


def randomised(example: Example, draw: st.DrawFn) -> list[Event]:
    events = []
    for given_event in example.given or [{}]:
        event: Event = {key: draw(VALUES) for key in {*given_event, "data"}}
        metadata(event)
        events.append(event)
    return events


@st.composite
def events_for(draw: st.DrawFn, example: Example) -> list[Event]:
    return randomised(example, draw)


@pytest.mark.parametrize(("name", "index"), CASES)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_random_field_values_never_make_process_raise(
    name: str, index: int, data: st.DataObject, request: pytest.FixtureRequest
) -> None:
    module, example = module_for(name, index, request)
    events = data.draw(events_for(example))
    out = module.process(copy.deepcopy(events))
    assert isinstance(out, list)
    assert all(isinstance(event, dict) for event in out)
