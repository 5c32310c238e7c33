"""ModifyFields on hostile data: wrong types, huge and odd values, deep nesting; nothing lost."""

from __future__ import annotations

from typing import Any

import pytest
from test_modify_fields_options import MINIMAL  # same folder: pytest puts it on sys.path

from gp_celery.event import errors_of
from gp_celery.testing import build, run

HOSTILE_VALUES: list[Any] = [
    None,
    0,
    -1.5,
    True,
    [],
    ["x", 1, None],
    {},
    {"k": {"n": [1]}},
    b"\xff\xfe",
    "",
    "\udcff lone surrogate",
    "ünï©ødé ✓ 🎉",
    "x" * 1_000_000,
    10**30,
]

TEXT_ONLY = ["string_replace", "replace", "split", "strip", "key_value", "key_value_regex"]


def _options(action: str) -> dict[str, Any]:
    options: dict[str, Any] = {"action": action, **MINIMAL[action]}
    if action in ("rename_regex", "rename_replace"):
        options["source_field"] = "a"
    return options


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("action", sorted(MINIMAL))
def test_any_value_in_any_action_never_raises_or_loses_the_event(action: str, value: Any) -> None:
    events = [{"a": value, "data": "d"}, {"data": "no source"}]
    out = run(build("ModifyFields", _options(action)), events)
    assert len(out) == len(events)
    assert all("event_id" in event["gambolputty"] for event in out)


@pytest.mark.parametrize("value", [None, 7, ["a"], {"a": 1}, b"a"], ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("action", TEXT_ONLY)
def test_text_actions_tag_non_text_and_leave_it(action: str, value: Any) -> None:
    [out] = run(build("ModifyFields", _options(action)), [{"a": value}])
    assert out["a"] == value
    assert errors_of(out)[0]["reason"].startswith(f"{action}: 'a' is a ")


@pytest.mark.parametrize("action", ["lowercase", "uppercase", "cast_to_int", "cast_to_float"])
def test_value_actions_tag_unconvertible_values(action: str) -> None:
    [out] = run(build("ModifyFields", _options(action)), [{"a": ["x"]}])
    assert out["a"] == ["x"]
    assert "cannot convert 'a' (list of length 1)" in errors_of(out)[0]["reason"]


@pytest.mark.parametrize("action", ["rename_regex", "rename_replace"])
def test_key_renames_tag_a_source_that_is_not_a_dict(action: str) -> None:
    [out] = run(build("ModifyFields", _options(action)), [{"a": "text"}])
    assert "not a dict" in errors_of(out)[0]["reason"]


def test_join_tags_text_instead_of_splitting_it_into_characters() -> None:
    [out] = run(build("ModifyFields", _options("join")), [{"a": "abc"}])
    assert "t" not in out
    assert "not a list" in errors_of(out)[0]["reason"]


def test_tags_carry_no_payload() -> None:
    [out] = run(build("ModifyFields", _options("cast_to_int")), [{"a": "secret-password"}])
    assert "secret" not in errors_of(out)[0]["reason"]


def test_deeply_nested_keys_are_renamed_without_recursion_error() -> None:
    nested: dict[str, Any] = {}
    current = nested
    for _ in range(20_000):
        current["k.k"] = {}
        current = current["k.k"]
    module = build("ModifyFields", {"action": "rename_replace", "old": ".", "new": "_"})
    [out] = module.process([nested])  # not run(): its deepcopy would hit the recursion limit
    depth, current = 0, out
    while "k_k" in current:
        depth, current = depth + 1, current["k_k"]
    assert depth == 20_000


def test_key_value_data_cannot_overwrite_metadata() -> None:
    options = {
        "action": "key_value",
        "source_field": "q",
        "line_separator": "&",
        "kv_separator": "=",
    }
    [out] = run(build("ModifyFields", options), [{"q": "gambolputty=evil&a=1"}])
    assert isinstance(out["gambolputty"], dict)
    assert out["a"] == "1"
    assert "'gambolputty' in the data was skipped" in errors_of(out)[0]["reason"]


def test_keep_cannot_remove_metadata() -> None:
    [out] = run(build("ModifyFields", {"action": "keep", "source_fields": ["x"]}), [{"a": 1}])
    assert list(out) == ["gambolputty"]


def test_nothing_is_lost_in_a_mixed_batch() -> None:
    events = [{"a": str(i)} for i in range(50)] + [{"a": "bad"} for _ in range(5)]
    events += [{} for _ in range(5)]  # separate dicts: run() keeps shared ones shared
    module = build("ModifyFields", {"action": "cast_to_int", "source_fields": ["a"]})
    out = run(module, events)
    tagged = [event for event in out if errors_of(event)]
    converted = [event for event in out if "a" in event and not errors_of(event)]
    untouched = [event for event in out if "a" not in event]
    assert len(out) == len(events) == len(converted) + len(tagged) + len(untouched)
    assert (len(converted), len(tagged), len(untouched)) == (50, 5, 5)
    assert [event["a"] for event in tagged] == [0] * 5  # GambolPutty's substitute, tagged
    assert module.failed == 5
