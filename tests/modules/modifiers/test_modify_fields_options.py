"""ModifyFields: every action's options are checked at load, with messages naming them."""

from __future__ import annotations

import importlib.util
import re
from typing import Any

import pytest

from gp_celery.config import ConfigError, parse_config
from gp_celery.docs import module_doc
from gp_celery.modules.modifiers.modify_fields import ModifyFields, ModifyFieldsOptions
from gp_celery.modules.types import option_names, parse_flags
from gp_celery.testing import BuildError, build

ACTIONS = ModifyFieldsOptions.variants

MINIMAL: dict[str, dict[str, Any]] = {
    "keep": {"source_fields": ["a"]},
    "delete": {"source_fields": ["a"]},
    "concat": {"source_fields": ["a"], "target_field": "t"},
    "insert": {"target_field": "t", "value": "v"},
    "slice": {"source_field": "a", "target_field": "t"},
    "string_replace": {"source_field": "a", "old": "x", "new": "y"},
    "replace": {"source_field": "a", "regex": "x", "with": "y"},
    "rename": {"source_field": "a", "target_field": "t"},
    "rename_regex": {"regex": "x", "target_field_pattern": "y"},
    "rename_replace": {"old": ".", "new": "_"},
    "map": {"source_field": "a", "map": {"1": "one"}},
    "key_value": {"source_field": "a", "line_separator": "&", "kv_separator": "="},
    # the lookbehind keeps findall linear on a long run of word characters
    "key_value_regex": {"source_field": "a", "regex": r"(?<!\w)(\w+)=(\w+)"},
    "split": {"source_field": "a"},
    "strip": {"source_field": "a"},
    "merge": {"source_fields": ["a"], "target_field": "t"},
    "join": {"source_field": "a", "target_field": "t"},
    "cast_to_int": {"source_fields": ["a"]},
    "cast_to_float": {"source_fields": ["a"]},
    "cast_to_str": {"source_fields": ["a"]},
    "cast_to_bool": {"source_fields": ["a"]},
    "cast": {"source_fields": ["a"], "type": "int"},
    "hash": {"source_fields": ["a"]},
    "anonymize": {"source_fields": ["a"]},
    "lowercase": {"source_fields": ["a"]},
    "uppercase": {"source_fields": ["a"]},
}


def test_every_action_has_a_minimal_config_here() -> None:
    assert set(MINIMAL) == set(ACTIONS)


@pytest.mark.parametrize("action", sorted(MINIMAL))
def test_minimal_options_build(action: str) -> None:
    build("ModifyFields", {"action": action, **MINIMAL[action]})


def required_options(action: str) -> list[str]:
    """The options an action cannot do without, by their first name."""
    variant = ACTIONS[action]
    first: dict[str, str] = {}
    for name, field in option_names(variant).items():
        first.setdefault(field, name)
    return [
        first[field]
        for field, info in variant.model_fields.items()
        if info.is_required() and field != "action"
    ]


@pytest.mark.parametrize(
    ("action", "required"),
    [(action, name) for action in sorted(ACTIONS) for name in required_options(action)],
)
def test_each_required_option_is_named_when_missing(action: str, required: str) -> None:
    options = {"action": action, **MINIMAL[action]}
    del options[required]
    with pytest.raises(BuildError, match=f"{required}: action '{action}' needs '{required}'"):
        build("ModifyFields", options)


def test_each_option_of_another_action_is_its_own_error() -> None:
    with pytest.raises(BuildError) as caught:
        build(
            "ModifyFields",
            {"action": "keep", "source_fields": ["a"], "target_field": "t", "map": {}},
        )
    assert str(caught.value).splitlines() == [
        "<build>:1: ModifyFields: map: action 'keep' does not take 'map'",
        "<build>:1: ModifyFields: target_field: action 'keep' does not take 'target_field'",
    ]


def test_unknown_action_lists_the_valid_ones() -> None:
    with pytest.raises(BuildError, match="unknown action 'explode'; valid actions: keep, delete"):
        build("ModifyFields", {"action": "explode"})


def test_cast_needs_a_known_type() -> None:
    with pytest.raises(BuildError, match="type: action 'cast' needs 'type'"):
        build("ModifyFields", {"action": "cast", "source_fields": ["a"]})
    with pytest.raises(BuildError, match="type: Input should be 'int'"):
        build("ModifyFields", {"action": "cast", "source_fields": ["a"], "type": "long"})


def test_missing_action_is_an_error() -> None:
    with pytest.raises(BuildError, match="action"):
        build("ModifyFields", {"source_fields": ["a"]})


def test_lumbermill_lower_and_upper_spellings_are_accepted() -> None:
    assert (
        build("ModifyFields", {"action": "lower", "source_fields": "a"}).options.action
        == "lowercase"
    )
    assert (
        build("ModifyFields", {"action": "upper", "source_fields": "a"}).options.action
        == "uppercase"
    )


def test_regex_flags_are_parsed_without_eval() -> None:
    assert parse_flags("re.MULTILINE | re.DOTALL") == re.MULTILINE | re.DOTALL
    assert parse_flags("I") == re.IGNORECASE


@pytest.mark.parametrize("flags", ["__import__('os').system('true')", "re.MULTILINE + 1", 4])
def test_anything_but_flag_names_is_rejected(flags: Any) -> None:
    with pytest.raises(BuildError, match="flag"):
        build("ModifyFields", {**MINIMAL["replace"], "action": "replace", "regex": ["x", flags]})


def test_regex_as_pattern_and_flags_pair_applies_the_flags() -> None:
    module = build(
        "ModifyFields",
        {"action": "replace", "source_field": "a", "regex": ["<[^>]*>", "re.DOTALL"], "with": ""},
    )
    assert module.options.regex.flags & re.DOTALL


def test_bad_regex_keeps_the_re_error_detail() -> None:
    with pytest.raises(BuildError, match="bad regular expression: missing \\), unterminated"):
        build("ModifyFields", {"action": "replace", "source_field": "a", "regex": "(x", "with": ""})


def test_bad_group_reference_in_replacement_is_a_load_error() -> None:
    with pytest.raises(BuildError, match="with: bad replacement: invalid group reference 2"):
        build(
            "ModifyFields",
            {"action": "replace", "source_field": "a", "regex": "(x)", "with": r"\2"},
        )


def test_key_value_regex_needs_two_groups() -> None:
    with pytest.raises(BuildError, match="two groups"):
        build("ModifyFields", {"action": "key_value_regex", "source_field": "a", "regex": r"(\w+)"})


def test_hash_target_fields_must_match_source_fields() -> None:
    with pytest.raises(BuildError, match="as many entries"):
        build(
            "ModifyFields", {"action": "hash", "source_fields": ["a", "b"], "target_fields": ["x"]}
        )


@pytest.mark.parametrize("algorithm", ["md6", "shake_128"])
def test_unusable_hash_algorithm_is_a_load_error(algorithm: str) -> None:
    with pytest.raises(BuildError, match=algorithm):
        build("ModifyFields", {"action": "hash", "source_fields": ["a"], "algorithm": algorithm})


@pytest.mark.skipif(importlib.util.find_spec("mmh3") is not None, reason="mmh3 is installed")
def test_murmur_without_mmh3_says_what_to_install() -> None:
    with pytest.raises(BuildError, match="needs the mmh3 package: pip install mmh3"):
        build("ModifyFields", {"action": "hash", "source_fields": ["a"], "algorithm": "murmur"})


def test_rename_replace_rejects_templates() -> None:
    with pytest.raises(BuildError, match="cannot use"):
        build("ModifyFields", {"action": "rename_replace", "old": "$(x)", "new": "_"})


@pytest.mark.parametrize(
    "options",
    [
        {"action": "split", "source_field": "a", "separator": ""},
        {"action": "key_value", "source_field": "a", "line_separator": "", "kv_separator": "="},
    ],
)
def test_empty_separators_are_rejected(options: dict[str, Any]) -> None:
    with pytest.raises(BuildError, match="non-empty"):
        build("ModifyFields", options)


def test_bad_field_name_is_rejected() -> None:
    with pytest.raises(BuildError, match="source_field"):
        build("ModifyFields", {"action": "rename", "source_field": "a..b", "target_field": "t"})


def test_map_with_yaml_int_keys_builds_through_the_loader() -> None:
    build("ModifyFields", {"action": "map", "source_field": "a", "map": {200: "OK"}})


def test_a_wrong_option_is_located_at_its_own_line() -> None:
    text = """\
- ModifyFields:
    action: rename_regex
    regex: x
    replace: y
    target_field_pattern: z
    source_fields: [a]
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "p.yml")
    assert str(caught.value).splitlines() == [
        "p.yml:4: ModifyFields: replace: set 'target_field_pattern' or 'replace', not both",
        "p.yml:6: ModifyFields: source_fields: action 'rename_regex' does not take 'source_fields'",
    ]


def test_the_page_says_which_option_belongs_to_which_action() -> None:
    doc = module_doc(ModifyFields)
    assert [option.name for option in doc.options] == ["action"]
    by_action = {
        variant.name: [option.name for option in variant.options] for variant in doc.variants
    }
    assert by_action["action: rename"] == ["source_field", "target_field"]
    assert by_action["action: hash, anonymize"] == [
        "source_fields",
        "target_fields",
        "algorithm",
        "salt",
    ]
    assert by_action["action: replace"] == ["source_field", "regex", "with"]
    shown = {tag for name in by_action for tag in name.removeprefix("action: ").split(", ")}
    assert shown == set(ACTIONS)
    assert all(variant.summary for variant in doc.variants)
