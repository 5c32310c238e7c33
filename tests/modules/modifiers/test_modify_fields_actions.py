"""ModifyFields: what each action does to an event (spec table and TestModifyFields.py)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from gp_celery.event import Event, errors_of
from gp_celery.modules.modifiers.modify_fields.values import build_map_table
from gp_celery.testing import build, run


def apply(options: dict[str, Any], event: Event) -> Event:
    [out] = run(build("ModifyFields", options), [event])
    return out


def fields(event: Event) -> Event:
    """The event without its metadata."""
    return {key: value for key, value in event.items() if key != "gambolputty"}


def test_keep_removes_all_other_top_level_fields_but_not_metadata() -> None:
    out = apply(
        {"action": "keep", "source_fields": ["a", "b.c"]}, {"a": 1, "b": {"c": 2, "d": 3}, "x": 4}
    )
    assert fields(out) == {"a": 1, "b": {"c": 2, "d": 3}}
    assert "event_id" in out["gambolputty"]


def test_delete_removes_listed_and_dotted_fields() -> None:
    out = apply(
        {"action": "delete", "source_fields": ["a", "b.c", "nope"]}, {"a": 1, "b": {"c": 2, "d": 3}}
    )
    assert fields(out) == {"b": {"d": 3}}


def test_concat_joins_present_values_without_separator() -> None:
    out = apply(
        {"action": "concat", "source_fields": ["a", "gone", "b"], "target_field": "t"},
        {"a": "x", "b": 2},
    )
    assert out["t"] == "x2"


def test_concat_of_nothing_sets_empty_string_like_gambolputty() -> None:
    assert apply({"action": "concat", "source_fields": ["a"], "target_field": "t"}, {})["t"] == ""


def test_insert_renders_template() -> None:
    out = apply({"action": "insert", "target_field": "t", "value": "$(host)-x"}, {"host": "web1"})
    assert out["t"] == "web1-x"


def test_insert_missing_template_field_renders_empty() -> None:
    assert apply({"action": "insert", "target_field": "t", "value": "$(host)-x"}, {})["t"] == "-x"


@pytest.mark.parametrize("value", [5, 1.5, True, ["a"], {"k": "v"}])
def test_insert_non_string_values_as_they_are(value: Any) -> None:
    assert apply({"action": "insert", "target_field": "a.b", "value": value}, {})["a"] == {
        "b": value
    }


def test_insert_does_not_share_one_list_between_events() -> None:
    out = run(
        build("ModifyFields", {"action": "insert", "target_field": "t", "value": []}), [{}, {}]
    )
    out[0]["t"].append(1)
    assert out[1]["t"] == []


def test_string_replace_all_and_max() -> None:
    options = {"action": "string_replace", "source_field": "a", "old": "o", "new": "0"}
    assert apply(options, {"a": "foo boo"})["a"] == "f00 b00"
    assert apply({**options, "max": 1}, {"a": "foo boo"})["a"] == "f0o boo"


def test_string_replace_renders_templates_per_event() -> None:
    options = {"action": "string_replace", "source_field": "a", "old": "$(x)", "new": "<$(y)>"}
    assert apply(options, {"a": "a-b-a", "x": "a", "y": "z"})["a"] == "<z>-b-<z>"


def test_replace_with_regex_and_group_reference() -> None:
    options = {"action": "replace", "source_field": "a", "regex": r"(\d+)", "with": r"[\1]"}
    assert apply(options, {"a": "GET 200 ok 3395"})["a"] == "GET [200] ok [3395]"


def test_replace_with_flags_pair() -> None:
    options = {
        "action": "replace",
        "source_field": "a",
        "regex": ["<[^>]*>", "re.DOTALL"],
        "with": "",
    }
    assert apply(options, {"a": "x<b\nr>y"})["a"] == "xy"


def test_replace_with_template_using_backslash_value_is_tagged_not_raised() -> None:
    options = {"action": "replace", "source_field": "a", "regex": "x", "with": "$(r)"}
    out = apply(options, {"a": "x", "r": "\\9"})
    assert out["a"] == "x"
    assert "bad replacement" in errors_of(out)[0]["reason"]


def test_rename_moves_value() -> None:
    options = {"action": "rename", "source_field": "bytes_send", "target_field": "bytes"}
    assert fields(apply(options, {"bytes_send": "3395"})) == {"bytes": "3395"}


@pytest.mark.parametrize(
    ("source", "target", "event", "expected"),
    [
        ("a", "a.b", {"a": 1}, {"a": {"b": 1}}),
        ("a.b", "a", {"a": {"b": {"b": 1}}}, {"a": {"b": 1}}),
        ("a.b", "c.d", {"a": {"b": 1}}, {"a": {}, "c": {"d": 1}}),
        ("a", "a", {"a": 1}, {"a": 1}),
    ],
)
def test_rename_nested_paths(source: str, target: str, event: Event, expected: Event) -> None:
    options = {"action": "rename", "source_field": source, "target_field": target}
    assert fields(apply(options, event)) == expected


def test_rename_to_unwritable_target_keeps_the_source() -> None:
    options = {"action": "rename", "source_field": "a", "target_field": "l.5"}
    out = apply(options, {"a": 1, "l": [0]})
    assert out["a"] == 1
    assert errors_of(out)


def test_rename_regex_renames_keys_recursively_and_spares_metadata() -> None:
    options = {"action": "rename_regex", "regex": "^(.*)$", "target_field_pattern": r"x_\1"}
    out = apply(options, {"a": 1, "b": {"c": 2}})
    assert fields(out) == {"x_a": 1, "x_b": {"x_c": 2}}
    assert "event_id" in out["gambolputty"]


def test_rename_regex_not_recursive_in_a_source_field() -> None:
    options = {
        "action": "rename_regex",
        "regex": "-",
        "target_field_pattern": "_",
        "source_field": "p",
        "recursive": False,
    }
    out = apply(options, {"p": {"a-b": {"c-d": 1}}, "x-y": 2})
    assert fields(out) == {"p": {"a_b": {"c-d": 1}}, "x-y": 2}


def test_rename_replace_turns_dots_into_underscores() -> None:
    out = apply({"action": "rename_replace", "old": ".", "new": "_"}, {"a.b": 1, "c": {"d.e": 2}})
    assert fields(out) == {"a_b": 1, "c": {"d_e": 2}}


def test_map_default_target_and_unmappable() -> None:
    module = build("ModifyFields", {"action": "map", "source_field": "s", "map": {"200": "OK"}})
    mapped, unmapped = run(module, [{"s": "200"}, {"s": "404"}])
    assert mapped["s_mapped"] == "OK"
    assert "s_mapped" not in unmapped
    assert module.stats.counts["unmapped"] == 1


def test_map_keep_unmappable_copies_the_value() -> None:
    options = {"action": "map", "source_field": "s", "map": {"200": "OK"}, "target_field": "t"}
    assert apply({**options, "keep_unmappable": True}, {"s": "404"})["t"] == "404"


def test_map_string_key_matches_int_value() -> None:
    assert (
        apply({"action": "map", "source_field": "s", "map": {"200": "OK"}}, {"s": 200})["s_mapped"]
        == "OK"
    )


def test_map_yaml_int_keys_match_regex_strings_as_in_the_seed_readme() -> None:
    options = {"action": "map", "source_field": "http_status", "map": {200: "OK", 404: "Not Found"}}
    out = run(build("ModifyFields", options), [{"http_status": "200"}, {"http_status": 404}])
    assert [event["http_status_mapped"] for event in out] == ["OK", "Not Found"]


def test_map_table_keeps_explicit_entries_over_twins() -> None:
    assert build_map_table({200: "int", "200": "str", True: "bool"}) == {
        200: "int",
        "200": "str",
        True: "bool",
    }


def test_key_value_merges_at_top_level_with_prefix() -> None:
    options = {
        "action": "key_value",
        "source_field": "q",
        "line_separator": "&",
        "kv_separator": "=",
        "prefix": "q_",
    }
    out = apply(options, {"q": "a=1&b=x=y&&bad&=v"})
    assert fields(out) == {"q": "a=1&b=x=y&&bad&=v", "q_a": "1", "q_b": "x=y"}


def test_key_value_into_target_field() -> None:
    options = {
        "action": "key_value",
        "source_field": "q",
        "line_separator": ";",
        "kv_separator": ":",
        "target_field": "kv",
    }
    assert apply(options, {"q": "a:1;b:2;"})["kv"] == {"a": "1", "b": "2"}


def test_key_value_regex() -> None:
    options = {
        "action": "key_value_regex",
        "source_field": "q",
        "regex": r"(\w+)=(\w+)",
        "target_field": "kv",
    }
    assert apply(options, {"q": "a=1, b=2; junk"})["kv"] == {"a": "1", "b": "2"}


def test_split_in_place_and_to_target() -> None:
    assert apply({"action": "split", "source_field": "a"}, {"a": "x,y"})["a"] == ["x", "y"]
    options = {"action": "split", "source_field": "a", "separator": " ", "target_field": "t"}
    assert apply(options, {"a": "x y"})["t"] == ["x", "y"]


def test_merge_present_values_in_order() -> None:
    options = {
        "action": "merge",
        "source_fields": ["longitude", "latitude", "gone"],
        "target_field": "geoip",
    }
    assert apply(options, {"latitude": 51.0, "longitude": 9.0})["geoip"] == [9.0, 51.0]


def test_join_list_with_separator_and_stringifies_items() -> None:
    options = {"action": "join", "source_field": "l", "target_field": "t", "separator": "|"}
    assert apply(options, {"l": ["a", 1, None]})["t"] == "a|1|None"


@pytest.mark.parametrize(
    ("action", "value", "expected"),
    [
        ("cast_to_int", "3395", 3395),
        ("cast_to_int", " 12.7 ", 12),
        ("cast_to_int", 3.9, 3),
        ("cast_to_int", "123456789012345678901234567890", 123456789012345678901234567890),
        ("cast_to_float", "0.25", 0.25),
        ("cast_to_float", 3, 3.0),
        ("cast_to_str", 3395, "3395"),
        ("cast_to_str", b"caf\xc3\xa9", "café"),
        ("cast_to_bool", "false", False),
        ("cast_to_bool", "No", False),
        ("cast_to_bool", " off ", False),
        ("cast_to_bool", "0", False),
        ("cast_to_bool", "", False),
        ("cast_to_bool", "true", True),
        ("cast_to_bool", "anything", True),
        ("cast_to_bool", 0, False),
        ("cast_to_bool", [1], True),
        ("lowercase", "ÄBC", "äbc"),
        ("uppercase", "straße", "STRASSE"),
    ],
)
def test_casts_and_case(action: str, value: Any, expected: Any) -> None:
    out = apply({"action": action, "source_fields": ["v"]}, {"v": value})
    assert out["v"] == expected
    assert type(out["v"]) is type(expected)


@pytest.mark.parametrize(
    ("action", "value", "written"),
    [
        ("cast_to_int", "abc", 0),
        ("cast_to_int", "nan", 0),
        ("cast_to_int", "inf", 0),
        ("cast_to_int", "", 0),
        ("cast_to_float", "1,5", 0.0),
        ("cast_to_float", 10**400, 0.0),
    ],
)
def test_unparsable_cast_writes_zero_and_tags_the_event(
    action: str, value: Any, written: Any
) -> None:
    out = apply({"action": action, "source_fields": ["v"]}, {"v": value})
    assert out["v"] == written
    assert type(out["v"]) is type(written)
    [error] = errors_of(out)
    assert error["reason"].startswith(f"{action}: cannot convert 'v'")
    assert error["reason"].endswith(f"; wrote {written!r}")


@pytest.mark.parametrize(
    ("action", "value"),
    [("cast_to_int", None), ("cast_to_int", [1]), ("cast_to_float", {"a": 1})],
)
def test_cast_of_a_value_that_is_no_text_or_number_is_tagged_and_kept(
    action: str, value: Any
) -> None:
    out = apply({"action": action, "source_fields": ["v"]}, {"v": value})
    assert out["v"] == value
    assert errors_of(out)[0][
        "reason"
    ] == f"{action}: cannot convert 'v' ({type(value).__name__}" + (
        f" of length {len(value)})" if isinstance(value, (list, dict)) else ")"
    )


def test_lumbermill_cast_example_castable_and_not() -> None:
    """LumberMill's TestModifyFields.testCastToInteger / testCastToFloat."""
    text = (
        "Three shall be the number thou shalt count, and the number of the counting shall be three."
    )
    for action, castable, number in (("cast_to_int", "3", 3), ("cast_to_float", "3.0", 3.0)):
        options = {"action": action, "source_fields": ["castable", "non-castable", "not-existing"]}
        out = apply(options, {"castable": castable, "non-castable": text})
        assert (out["castable"], out["non-castable"]) == (number, 0)
        assert len(errors_of(out)) == 1


def test_case_into_target_fields() -> None:
    options = {"action": "uppercase", "source_fields": ["a", "b"], "target_fields": ["A", "B"]}
    assert fields(apply(options, {"a": "x", "b": "y"})) == {"a": "x", "b": "y", "A": "X", "B": "Y"}


def test_hash_md5_in_place() -> None:
    out = apply({"action": "hash", "source_fields": ["remote_ip"]}, {"remote_ip": "192.168.2.20"})
    assert out["remote_ip"] == hashlib.md5(b"192.168.2.20").hexdigest()


def test_anonymize_with_salt_algorithm_and_targets() -> None:
    options = {
        "action": "anonymize",
        "source_fields": ["ip", "n"],
        "target_fields": ["ip_h", "n_h"],
        "algorithm": "sha256",
        "salt": "s",
    }
    out = apply(options, {"ip": "1.2.3.4", "n": 5})
    assert out["ip"] == "1.2.3.4"
    assert out["ip_h"] == hashlib.sha256(b"s1.2.3.4").hexdigest()
    assert out["n_h"] == hashlib.sha256(b"s5").hexdigest()


def test_missing_source_fields_are_ignored_and_counted() -> None:
    module = build("ModifyFields", {"action": "cast_to_int", "source_fields": ["a", "b"]})
    [out] = run(module, [{"a": "1"}])
    assert out["a"] == 1
    assert "b" not in out
    assert not errors_of(out)
    assert module.stats.counts["missing_source"] == 1


def test_slice_lumbermill_example() -> None:
    """LumberMill's TestModifyFields.testSlice."""
    options = {
        "action": "slice",
        "start": 6,
        "end": None,
        "source_field": "Last name",
        "target_field": "Shorter last name",
    }
    out = apply(options, {"First name": "Johann", "Last name": "Gambolputty"})
    assert out["Shorter last name"] == "putty"
    assert out["Last name"] == "Gambolputty"


@pytest.mark.parametrize(
    ("bounds", "value", "expected"),
    [
        ({}, "Gambolputty", "Gambolputty"),
        ({"end": 5}, "Gambolputty", "Gambo"),
        ({"start": -5}, "Gambolputty", "putty"),
        ({"start": 1, "end": -1}, [1, 2, 3, 4], [2, 3]),
        ({"start": 20}, "short", ""),
    ],
)
def test_slice_reads_start_and_end_as_python_does(
    bounds: dict[str, Any], value: Any, expected: Any
) -> None:
    options = {"action": "slice", "source_field": "v", "target_field": "t", **bounds}
    assert apply(options, {"v": value})["t"] == expected


@pytest.mark.parametrize("value", [5, None, {"a": 1}])
def test_slice_tags_a_value_that_cannot_be_sliced(value: Any) -> None:
    out = apply({"action": "slice", "source_field": "v", "target_field": "t"}, {"v": value})
    assert "t" not in out
    assert errors_of(out)[0]["reason"].startswith("slice: 'v' is a ")


def test_strip_in_place_and_to_target() -> None:
    assert apply({"action": "strip", "source_field": "v"}, {"v": "  spam \n"})["v"] == "spam"
    options = {"action": "strip", "source_field": "v", "target_field": "t"}
    assert fields(apply(options, {"v": "\teggs "})) == {"v": "\teggs ", "t": "eggs"}


def test_strip_of_a_missing_field_is_counted_not_tagged() -> None:
    module = build("ModifyFields", {"action": "strip", "source_field": "v"})
    [out] = run(module, [{"x": 1}])
    assert not errors_of(out)
    assert module.stats.counts["missing_source"] == 1


@pytest.mark.parametrize("spelling", ["replace", "target_field_pattern"])
def test_rename_regex_lumbermill_example(spelling: str) -> None:
    """LumberMill's TestModifyFields.testRenameRegex ('replace'; GambolPutty's name too)."""
    options = {
        "action": "rename_regex",
        "regex": r"(Gam[Bb]olputty)\s+(Johann)-(.*)",
        spelling: r"\2 \1 \3",
    }
    event = {
        "Gambolputty Johann-de von": 1,
        "Gambolputty Johann-de von Ausfern": 2,
        "Gambolputty Johann-de von Ausfern Schlingern Schlendern": 3,
    }
    assert fields(apply(options, event)) == {
        "Johann Gambolputty de von": 1,
        "Johann Gambolputty de von Ausfern": 2,
        "Johann Gambolputty de von Ausfern Schlingern Schlendern": 3,
    }


def test_lumbermill_upper_and_lower_with_target_fields() -> None:
    """LumberMill's TestModifyFields.testUpper and testLowerWithTargetFields."""
    event = {"First name": "Johann", "Last name": "Gambolputty"}
    upper = apply({"action": "upper", "source_fields": ["First name", "Last name"]}, event)
    assert (upper["First name"], upper["Last name"]) == ("JOHANN", "GAMBOLPUTTY")
    options = {
        "action": "lower",
        "source_fields": ["First name", "Last name"],
        "target_fields": ["First name lower", "Last name lower"],
    }
    lower = apply(options, event)
    assert (lower["First name lower"], lower["Last name lower"]) == ("johann", "gambolputty")


@pytest.mark.parametrize(
    ("type_name", "value", "expected"),
    [
        ("int", "3395", 3395),
        ("integer", "12.7", 12),
        ("float", "0.5", 0.5),
        ("str", 42, "42"),
        ("string", 1.5, "1.5"),
        ("bool", "false", False),
        ("boolean", "yes", True),
    ],
)
def test_cast_with_a_type_works_as_the_matching_cast_to_action(
    type_name: str, value: Any, expected: Any
) -> None:
    out = apply({"action": "cast", "type": type_name, "source_fields": ["a", "gone"]}, {"a": value})
    assert out["a"] == expected
    assert type(out["a"]) is type(expected)
    assert errors_of(out) == []


def test_cast_of_text_that_is_no_number_writes_zero_and_tags_like_cast_to_int() -> None:
    out = apply({"action": "cast", "type": "int", "source_fields": ["a"]}, {"a": "-"})
    assert out["a"] == 0
    assert errors_of(out)[0]["reason"] == "cast: cannot convert 'a' (str of length 1); wrote 0"


def test_seed_status_map_maps_regex_text_and_integers_alike() -> None:
    """The seed README's map has YAML int keys; RegexParser captures text. GambolPutty's
    type-exact lookup silently mapped nothing; here '200' and 200 both become 'OK'."""
    seed_map = {100: "Continue", 200: "OK", 301: "Moved Permanently", 404: "Not Found"}
    module = build(
        "ModifyFields", {"action": "map", "source_field": "http_status", "map": seed_map}
    )
    out = run(module, [{"http_status": "200"}, {"http_status": 200}, {"http_status": "404"}])
    assert [event["http_status_mapped"] for event in out] == ["OK", "OK", "Not Found"]
    assert [event["http_status"] for event in out] == ["200", 200, "404"]


def test_seed_status_map_leaves_an_unknown_code_unmapped_and_untagged() -> None:
    module = build(
        "ModifyFields", {"action": "map", "source_field": "http_status", "map": {200: "OK"}}
    )
    [out] = run(module, [{"http_status": "418"}])
    assert "http_status_mapped" not in out
    assert errors_of(out) == []


def test_seed_merge_gives_kibana_bettermap_its_lon_lat_list_of_floats() -> None:
    options = {
        "action": "merge",
        "source_fields": ["longitude", "latitude"],
        "target_field": "geoip",
        "filter": "if $(latitude)",
    }
    out = run(
        build("ModifyFields", options),
        [{"longitude": 9.7167, "latitude": 52.3667}, {"longitude": 9.7167}],
    )
    assert out[0]["geoip"] == [9.7167, 52.3667]
    assert all(isinstance(value, float) for value in out[0]["geoip"])
    assert "geoip" not in out[1]  # no latitude: the filter lets it bypass the merge
