"""Permutate: one event per permutation, bounded; bad sources are tagged, nothing is lost."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import EVENT_ID, Event, errors_of, metadata
from gp_celery.testing import BuildError, build, run


def permutate(**options: Any) -> Any:
    return build("Permutate", {"source_field": "facets", "target_fields": ["f1", "f2"], **options})


def reasons(event: Event) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def test_spec_example_gives_six_events_and_not_the_original() -> None:
    out = run(permutate(), [{"facets": ["a", "b", "c"], "host": "web1"}])
    assert [(event["f1"], event["f2"]) for event in out] == [
        ("a", "b"),
        ("a", "c"),
        ("b", "a"),
        ("b", "c"),
        ("c", "a"),
        ("c", "b"),
    ]
    assert all(event["host"] == "web1" for event in out)
    assert all(errors_of(event) == [] for event in out)


def test_copies_have_ids_derived_from_the_original_so_redelivery_repeats_them() -> None:
    given_event: Event = {"facets": ["a", "b"], "gambolputty": {"event_id": "abc"}}
    out = run(permutate(), [given_event])
    assert [metadata(event)[EVENT_ID] for event in out] == ["abc.0", "abc.1"]
    assert [metadata(event)[EVENT_ID] for event in run(permutate(), [given_event])] == [
        "abc.0",
        "abc.1",
    ]


def test_copies_share_no_mutable_state() -> None:
    out = run(permutate(), [{"facets": ["a", "b"], "nested": {"n": []}}])
    out[0]["nested"]["n"].append(1)
    assert out[1]["nested"]["n"] == []


def test_single_target_field_gives_one_event_per_item() -> None:
    out = run(permutate(target_fields=["item"]), [{"facets": [1, 2, 3]}])
    assert [event["item"] for event in out] == [1, 2, 3]


def test_context_data_goes_to_the_target_of_each_items_position() -> None:
    module = permutate(
        context_data_field="context",
        context_target_mapping={"ip": ["ip1", "ip2"]},
    )
    event = {"facets": ["a", "b", "c"], "context": {"a": {"ip": "1.1.1.1"}, "c": {"ip": "3.3.3.3"}}}
    out = run(module, [event])
    by_pair = {(e["f1"], e["f2"]): e for e in out}
    assert by_pair["a", "c"]["ip1"] == "1.1.1.1"
    assert by_pair["a", "c"]["ip2"] == "3.3.3.3"
    assert by_pair["b", "c"]["ip2"] == "3.3.3.3"
    assert "ip1" not in by_pair["b", "c"]
    assert by_pair["c", "b"]["ip1"] == "3.3.3.3"


def test_missing_source_passes_on_unchanged_and_is_counted() -> None:
    module = permutate()
    [out] = run(module, [{"other": 1}])
    assert out["other"] == 1
    assert errors_of(out) == []
    assert module.stats.counts["missing_source"] == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "is a str, not a list"),
        (None, "is a NoneType, not a list"),
        (5, "is a int, not a list"),
        (b"\xff\xfe", "is a bytes, not a list"),
        ({"a": 1}, "is a dict, not a list"),
        ([], "has 0 items, fewer than 2"),
        (["only"], "has 1 items, fewer than 2"),
        (list(range(40)), "1560 permutations, more than max_permutations (1000)"),
    ],
    ids=["text", "none", "int", "bytes", "dict", "empty", "too-short", "oversize"],
)
def test_bad_sources_are_tagged_and_go_on_unchanged(value: Any, reason: str) -> None:
    [out] = run(permutate(), [{"facets": value}])
    assert reasons(out) == [f"'facets' {reason}" if "permutations" not in reason else reason]
    assert out["facets"] == value
    assert "f1" not in out


def test_max_permutations_is_an_option_and_the_limit_itself_is_allowed() -> None:
    assert len(run(permutate(max_permutations=6), [{"facets": ["a", "b", "c"]}])) == 6
    [out] = run(permutate(max_permutations=5), [{"facets": ["a", "b", "c"]}])
    assert "more than max_permutations (5)" in reasons(out)[0]


def test_unhashable_items_are_permuted_and_get_no_context() -> None:
    module = permutate(context_data_field="context", context_target_mapping={"k": ["x", "y"]})
    out = run(module, [{"facets": [[1], {"a": 2}], "context": {"a": {"k": 1}}}])
    assert [(event["f1"], event["f2"]) for event in out] == [([1], {"a": 2}), ({"a": 2}, [1])]
    assert all("x" not in event for event in out)


def test_unwritable_target_tags_the_copy() -> None:
    out = run(permutate(target_fields=["facets.9", "f2"]), [{"facets": ["a", "b"]}])
    assert len(out) == 2
    assert all("cannot set 'facets.9'" in reasons(event)[0] for event in out)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target_fields": []}, "target_fields"),
        ({"max_permutations": 0}, "max_permutations"),
        ({"context_data_field": "context"}, "'context_data_field' needs 'context_target_mapping'"),
        (
            {"context_data_field": "c", "context_target_mapping": {"ip": ["only_one"]}},
            "'ip' needs 2 target fields",
        ),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_configuration_errors_are_refused_at_load(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        permutate(**options)


def test_empty_context_data_field_means_none_as_in_gambolputty() -> None:
    assert len(run(permutate(context_data_field=""), [{"facets": ["a", "b"]}])) == 2


def test_lumbermill_alias() -> None:
    module = build("modifier.Permutate", {"source_field": "a", "target_fields": ["b"]})
    assert type(module).__name__ == "Permutate"


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.lists(st.one_of(st.text(max_size=5), st.integers(), st.none()), max_size=8),
        st.text(max_size=20),
        st.binary(max_size=20),
        st.integers(),
        st.none(),
    )
)
def test_every_event_becomes_its_permutations_or_goes_on_tagged(value: Any) -> None:
    out = run(permutate(max_permutations=50), [{"facets": value}])
    if isinstance(value, list) and 2 <= len(value) <= 7:
        assert len(out) == len(value) * (len(value) - 1)
        assert all(errors_of(event) == [] for event in out)
    else:
        assert len(out) == 1
        assert len(errors_of(out[0])) == 1
