"""Math: the safe expression language over fields; bad data tags the event, nothing is lost."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import Event, errors_of
from gp_celery.testing import BuildError, build, run


def math(function: str, target_field: str = "result", **options: Any) -> Any:
    return build("Math", {"function": function, "target_field": target_field, **options})


def reasons(event: Event) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def test_seed_readme_example_turns_nginx_seconds_into_milliseconds() -> None:
    module = math(
        "float($(request_time)) * 1000",
        target_field="request_time",
        filter='if $(server_type) == "nginx"',
    )
    out = run(
        module,
        [
            {"server_type": "nginx", "request_time": "0.123"},
            {"server_type": "apache", "request_time": "123000"},
        ],
    )
    assert out[0]["request_time"] == pytest.approx(123.0)
    assert out[1]["request_time"] == "123000"
    assert [errors_of(event) for event in out] == [[], []]


def test_spec_example_doubles_an_int() -> None:
    [event] = run(math("int($(cache_hits)) * 2", target_field="test"), [{"cache_hits": 5}])
    assert event["test"] == 10


@pytest.mark.parametrize(
    ("function", "event", "expected"),
    [
        ("$(a) + $(b) - 1", {"a": 2, "b": 3}, 4),
        ("$(a) / $(b)", {"a": 1, "b": 4}, 0.25),
        ("$(a) // $(b)", {"a": 7, "b": 2}, 3),
        ("$(a) % $(b)", {"a": 7, "b": 4}, 3),
        ("$(a) ** 2", {"a": 3}, 9),
        ("-($(a) + 1) * 2", {"a": 1}, -4),
        ("round(float($(a)), 1)", {"a": "2.26"}, 2.3),
        ("abs(int($(a)))", {"a": "-4"}, 4),
        ("max($(a), $(b), 10)", {"a": 3, "b": 12}, 12),
        ("min($(a), $(b))", {"a": 3, "b": 12}, 3),
        ("sum($(values)) / len($(values))", {"values": [1, 2, 3, 6]}, 3.0),
        ("$(nested.value) * 2", {"nested": {"value": 21}}, 42),
    ],
)
def test_arithmetic_and_whitelisted_calls(function: str, event: Event, expected: Any) -> None:
    [out] = run(math(function), [event])
    assert out["result"] == expected
    assert errors_of(out) == []


def test_result_goes_into_a_dotted_target() -> None:
    [out] = run(math("$(a) * 2", target_field="stats.double"), [{"a": 2}])
    assert out["stats"] == {"double": 4}


@pytest.mark.parametrize(
    ("function", "event", "reason"),
    [
        ("$(a) / $(b)", {"a": 1, "b": 0}, "division by zero"),
        ("$(a) % $(b)", {"a": 1, "b": 0}, "modulo by zero"),
        ("float($(a)) * 1000", {"a": "-"}, "could not convert"),
        ("float($(a)) * 1000", {}, "field 'a' is missing"),
        ("float($(a)) * 1000", {"a": None}, "float()"),
        ("float($(a)) * 1000", {"a": [1]}, "float()"),
        ("$(a) * 2", {"a": "text"}, "the result is a str, not a number"),
        ("$(a) + 1", {"a": "text"}, "can only concatenate"),
        ("$(a) == 1", {"a": 1}, "the result is a bool, not a number"),
        ("float($(a)) * 10", {"a": "1e308"}, "the result is inf"),
        ("float($(a))", {"a": "nan"}, "the result is nan"),
        ("$(a) ** 1000", {"a": 10.0}, "Numerical result out of range"),
        ("$(a) ** $(b)", {"a": 10, "b": 10**9}, "too large"),
        ("$(a) ** 0.5", {"a": -1}, "complex"),
        ("$(a) / 2", {"a": 2**2000}, "too large"),
    ],
)
def test_bad_data_division_by_zero_and_overflow_are_tagged_and_the_event_goes_on(
    function: str, event: Event, reason: str
) -> None:
    [out] = run(math(function), [event])
    assert "result" not in out
    assert len(reasons(out)) == 1
    assert reason in reasons(out)[0]
    assert reasons(out)[0].startswith("function failed")


@pytest.mark.parametrize(
    "value",
    [None, 7, -1.5, True, [], {"k": 1}, b"\xff\xfe", b"12", "", "\udcff", "x" * 1_000_000],
    ids=lambda value: type(value).__name__,
)
def test_hostile_values_are_computed_or_tagged_and_nothing_is_lost(value: Any) -> None:
    events: list[Event] = [{"a": value} for _ in range(3)]
    out = run(math("float($(a)) * 2"), events)
    assert len(out) == 3
    for event in out:
        assert ("result" in event) != bool(errors_of(event))
        assert event["a"] == value


def test_a_target_that_cannot_be_written_is_tagged() -> None:
    [out] = run(math("$(a) + 1", target_field="items.5"), [{"a": 1, "items": [0]}])
    assert len(reasons(out)) == 1
    assert "cannot set 'items.5'" in reasons(out)[0]
    assert out["items"] == [0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"function": "float($(a) *", "target_field": "x"}, "bad expression"),
        ({"function": "__import__('os')", "target_field": "x"}, "bad expression"),
        ({"function": "eval('1')", "target_field": "x"}, "bad expression"),
        ({"function": "$(a).__class__", "target_field": "x"}, "bad expression"),
        ({"function": "1 / 0", "target_field": "x"}, "division by zero"),
        ({"function": "$(a) + 1"}, "'target_field' is needed"),
        ({"function": "$(a)", "target_field": "x", "interval": 5}, "not supported"),
        (
            {"function": "$(a)", "target_field": "x", "results_function": "sum($(results))"},
            "not supported",
        ),
        ({"target_field": "x"}, "function"),
        ({"function": 5, "target_field": "x"}, "expected an expression"),
    ],
)
def test_configuration_errors_are_refused_at_load(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("Math", options)


def test_lumbermill_alias() -> None:
    assert type(build("modifier.Math", {"function": "1", "target_field": "x"})).__name__ == "Math"


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=50),
        st.binary(max_size=50),
        st.integers(),
        st.floats(),
        st.none(),
        st.lists(st.integers(), max_size=5),
    )
)
def test_any_value_is_computed_or_tagged_never_raised(value: Any) -> None:
    module = math("float($(a)) / $(b) ** 2 + sum($(c)) * 1000")
    events: list[Event] = [{"a": value, "b": value, "c": value}, {"a": value}]
    out = run(module, events)
    assert len(out) == 2
    for event in out:
        assert ("result" in event) != bool(errors_of(event))
