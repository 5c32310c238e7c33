"""ModifyFields options: one flat model, checked per action at load.

GambolPutty did not validate ModifyFields at all (wrong or missing options surfaced at run
time); here every action names the options it needs and the ones it accepts, so a typo or a
forgotten option is a configuration error that names the action and the option.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from typing import Annotated, Any, Final

from pydantic import Field, PlainValidator, field_validator, model_validator

from gp_celery import expressions
from gp_celery.modules.base import Options
from gp_celery.modules.types import FieldName, FieldNames, FlaggedRegex, Template


def _constant_or_template(value: Any) -> Any:
    """Strings are templates; numbers, booleans, lists and maps are inserted as they are."""
    if isinstance(value, str):
        try:
            return expressions.compile_template(value)
        except expressions.ExpressionError as error:
            raise ValueError(f"bad template: {error}") from None
    return value


InsertValue = Annotated[Any, PlainValidator(_constant_or_template)]

_SOURCES: Final = frozenset({"source_fields"})
_CASE: Final = (_SOURCES, frozenset({"target_fields"}))
_HASH: Final = (_SOURCES, frozenset({"target_fields", "algorithm", "salt"}))
_KV_EXTRA: Final = frozenset({"target_field", "prefix"})
_RENAME_EXTRA: Final = frozenset({"source_field", "recursive"})

ACTIONS: Final[dict[str, tuple[frozenset[str], frozenset[str]]]] = {
    # action: (required options, optional options)
    "keep": (_SOURCES, frozenset()),
    "delete": (_SOURCES, frozenset()),
    "concat": (frozenset({"source_fields", "target_field"}), frozenset()),
    "insert": (frozenset({"target_field", "value"}), frozenset()),
    "string_replace": (frozenset({"source_field", "old", "new"}), frozenset({"max"})),
    "replace": (frozenset({"source_field", "regex", "with_"}), frozenset()),
    "rename": (frozenset({"source_field", "target_field"}), frozenset()),
    "rename_regex": (frozenset({"regex", "target_field_pattern"}), _RENAME_EXTRA),
    "rename_replace": (frozenset({"old", "new"}), _RENAME_EXTRA),
    "map": (frozenset({"source_field", "map"}), frozenset({"target_field", "keep_unmappable"})),
    "key_value": (frozenset({"line_separator", "kv_separator", "source_field"}), _KV_EXTRA),
    "key_value_regex": (frozenset({"regex", "source_field"}), _KV_EXTRA),
    "split": (frozenset({"source_field"}), frozenset({"separator", "target_field"})),
    "merge": (frozenset({"source_fields", "target_field"}), frozenset()),
    "join": (frozenset({"source_field", "target_field"}), frozenset({"separator"})),
    "cast_to_int": (_SOURCES, frozenset()),
    "cast_to_float": (_SOURCES, frozenset()),
    "cast_to_str": (_SOURCES, frozenset()),
    "cast_to_bool": (_SOURCES, frozenset()),
    "hash": _HASH,
    "anonymize": _HASH,
    "lowercase": _CASE,
    "uppercase": _CASE,
}

ACTION_ALIASES: Final = {"lower": "lowercase", "upper": "uppercase"}
"""LumberMill's spellings."""

_NOT_IMPLEMENTED: Final = {
    "cast": "action 'cast' is not implemented (GambolPutty's dropped every event); "
    "use cast_to_int, cast_to_float, cast_to_str or cast_to_bool",
}


class ModifyFieldsOptions(Options):
    action: str
    """What to do; one of the actions listed in the module description."""
    source_field: FieldName | None = None
    """The field an action reads (rename_* actions: None = the whole event)."""
    source_fields: FieldNames | None = None
    """The fields an action reads, one name or a list."""
    target_field: FieldName | None = None
    """Where the result goes (map: None = '<source_field>_mapped'; split: None = in place)."""
    target_fields: FieldNames = ()
    """hash/lowercase/uppercase: result fields, one per source field; empty = in place."""
    value: InsertValue = None
    """insert: the value; a string is a $(field) template, other YAML values go in as they are."""
    old: Template | None = None
    """string_replace/rename_replace: the text to replace (templated)."""
    new: Template | None = None
    """string_replace/rename_replace: the replacement text (templated)."""
    max: int = -1
    """string_replace: at most this many replacements; -1 = all."""
    regex: FlaggedRegex | None = None
    """replace/rename_regex/key_value_regex: pattern, or [pattern, 're.FLAG | re.FLAG']."""
    with_: Template | None = Field(default=None, alias="with")
    """replace: the replacement (templated; \\1 and \\g<name> refer to groups)."""
    target_field_pattern: str | None = None
    """rename_regex: the replacement applied to matching key names."""
    recursive: bool = True
    """rename_regex/rename_replace: also rename keys of nested dicts."""
    map: dict[Any, Any] | None = None
    """map: value -> replacement; YAML int keys also match the same digits as text."""
    keep_unmappable: bool = False
    """map: copy a value that is not in the map to the target unchanged."""
    line_separator: str | None = None
    """key_value: separates the pairs."""
    kv_separator: str | None = None
    """key_value: separates key from value (the first one in a pair counts)."""
    prefix: str | None = None
    """key_value/key_value_regex: put in front of every key."""
    separator: str = ","
    """split/join: the separator."""
    algorithm: str = "md5"
    """hash: any hashlib algorithm, or 'murmur' (needs the mmh3 package)."""
    salt: str | None = None
    """hash: text put in front of the value before hashing."""

    @field_validator("action")
    @classmethod
    def _known_action(cls, action: str) -> str:
        action = ACTION_ALIASES.get(action, action)
        if action in _NOT_IMPLEMENTED:
            raise ValueError(_NOT_IMPLEMENTED[action])
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; valid actions: {', '.join(ACTIONS)}")
        return action

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, algorithm: str) -> str:
        if algorithm == "murmur":
            if importlib.util.find_spec("mmh3") is None:
                raise ValueError("algorithm 'murmur' needs the mmh3 package: pip install mmh3")
            return algorithm
        if algorithm.startswith("shake_"):
            raise ValueError(f"algorithm {algorithm!r} needs a digest length; not supported")
        if algorithm not in hashlib.algorithms_available:
            valid = ", ".join(sorted(hashlib.algorithms_guaranteed - {"shake_128", "shake_256"}))
            raise ValueError(f"unknown hash algorithm {algorithm!r}; valid: {valid}, murmur")
        return algorithm

    @model_validator(mode="after")
    def _options_fit_action(self) -> ModifyFieldsOptions:
        required, optional = ACTIONS[self.action]
        given = self.model_fields_set - {"action"}
        missing = sorted(_shown(name) for name in required - given)
        if missing:
            raise ValueError(f"action {self.action!r} needs {_quoted(missing)}")
        foreign = sorted(_shown(name) for name in given - required - optional)
        if foreign:
            raise ValueError(f"action {self.action!r} does not take {_quoted(foreign)}")
        _check_action_values(self)
        return self


def _shown(name: str) -> str:
    return "with" if name == "with_" else name


def _quoted(names: list[str]) -> str:
    quoted = [f"'{name}'" for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def _constant(template: expressions.Template | None) -> bool:
    return template is None or template.is_constant


def _check_replacement(regex: re.Pattern[str], replacement: str, option: str) -> None:
    try:
        regex.sub(replacement, "")  # parses the replacement: '\\3' without group 3 fails here
    except re.error as error:
        raise ValueError(f"'{option}': bad replacement: {error}") from None


def _check_action_values(options: ModifyFieldsOptions) -> None:
    """Checks that need the action: group counts, replacement templates, list lengths."""
    action, regex = options.action, options.regex
    if action == "key_value_regex" and regex is not None and regex.groups != 2:
        raise ValueError("action 'key_value_regex' needs a regex with two groups (key, value)")
    if action == "rename_regex" and regex is not None:
        _check_replacement(regex, options.target_field_pattern or "", "target_field_pattern")
    with_ = options.with_
    if action == "replace" and regex is not None and with_ is not None and with_.is_constant:
        _check_replacement(regex, with_.render({}), "with")
    if action == "rename_replace" and not (_constant(options.old) and _constant(options.new)):
        raise ValueError("action 'rename_replace' renames keys: 'old' and 'new' cannot use $(...)")
    if action == "split" and not options.separator:
        raise ValueError("action 'split' needs a non-empty 'separator'")
    if action == "key_value" and not (options.line_separator and options.kv_separator):
        raise ValueError("action 'key_value' needs non-empty 'line_separator' and 'kv_separator'")
    targets = options.target_fields
    if targets and len(targets) != len(options.source_fields or ()):
        raise ValueError("'target_fields' must have as many entries as 'source_fields'")
