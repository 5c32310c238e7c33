"""The shared option types: regex flags, FlaggedRegex, and options with variants or spellings."""

from __future__ import annotations

import re
from typing import Any, Literal

import pytest
from pydantic import AliasChoices, BaseModel, Field, ValidationError

from gp_celery.modules.types import (
    FlaggedRegex,
    SpelledOptions,
    TaggedOptions,
    compile_flagged_regex,
    option_names,
    parse_flags,
)


@pytest.mark.parametrize(
    ("text", "flags"),
    [
        (None, re.RegexFlag(0)),
        ("", re.RegexFlag(0)),
        ("re.MULTILINE | re.DOTALL", re.MULTILINE | re.DOTALL),
        ("MULTILINE|IGNORECASE", re.MULTILINE | re.IGNORECASE),
        ("re.I", re.IGNORECASE),
        ("verbose, ascii", re.VERBOSE | re.ASCII),
        ("M|S", re.MULTILINE | re.DOTALL),
        ("IGNORECASE", re.IGNORECASE),
        ("re.I | re.M", re.IGNORECASE | re.MULTILINE),
    ],
)
def test_flags_come_from_a_whitelist(text: str | None, flags: re.RegexFlag) -> None:
    assert parse_flags(text) == flags


@pytest.mark.parametrize("text", ["re.LOCALE", "os.system('rm -rf /')", "MULTILINE | BOGUS"])
def test_unknown_flags_are_errors_naming_the_flag(text: str) -> None:
    with pytest.raises(ValueError, match="unknown regex flag"):
        parse_flags(text)


def test_flags_must_be_text() -> None:
    with pytest.raises(ValueError, match="flags must be a string"):
        parse_flags(8)


@pytest.mark.parametrize(
    ("value", "flags"),
    [
        ("a.b", 0),
        (["a.b"], 0),
        (["a.b", None], 0),
        (["a.b", "re.MULTILINE | re.DOTALL"], re.MULTILINE | re.DOTALL),
        (["a.b", "M|S"], re.MULTILINE | re.DOTALL),
        (["a.b", "IGNORECASE"], re.IGNORECASE),
    ],
)
def test_flagged_regex_takes_a_pattern_or_pattern_and_flags(value: Any, flags: int) -> None:
    regex = compile_flagged_regex(value)
    assert regex.pattern == "a.b"
    assert regex.flags & ~re.UNICODE == flags


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["a", "re.I", "extra"], "expected a pattern or \\[pattern, flags\\]"),
        ([], "expected a pattern or \\[pattern, flags\\]"),
        (["(a", "I"], "bad regular expression: missing \\), unterminated subpattern at position 0"),
        (["a", "re.I + 1"], "unknown regex flag '\\+'"),
        (5, "expected a regular expression, got int"),
    ],
)
def test_flagged_regex_errors_say_what_is_wrong(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_flagged_regex(value)


def test_flagged_regex_is_an_option_type() -> None:
    class Options(BaseModel):
        regex: FlaggedRegex

    assert Options.model_validate({"regex": ["x", "I"]}).regex.match("X")


class Shape(TaggedOptions):
    kind: str
    """What shape."""
    label: str = ""
    """Shared by every shape."""


class Circle(Shape):
    """A round one."""

    kind: Literal["circle", "disc"]
    radius: float
    """How big."""


class Box(Shape):
    kind: Literal["box"]
    width: float = Field(validation_alias=AliasChoices("width", "breadth"))
    """How wide."""


Shape.declare_variants("kind", [Circle, Box], aliases={"round": "circle"}, refused={"blob": "no."})


def errors(data: Any) -> list[tuple[tuple[int | str, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        Shape.model_validate(data)
    return [(item["loc"], item["msg"]) for item in caught.value.errors()]


def test_the_tag_picks_the_variant() -> None:
    circle = Shape.model_validate({"kind": "disc", "radius": 2, "label": "x"})
    assert isinstance(circle, Circle)
    assert (circle.radius, circle.label) == (2.0, "x")
    assert isinstance(Shape.model_validate({"kind": "round", "radius": 1}), Circle)
    assert Shape.model_validate({"kind": "box", "breadth": 3}) == Box(kind="box", width=3)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"radius": 1}, [(("kind",), "Field required")]),
        ({"kind": "star"}, [(("kind",), "unknown kind 'star'; valid kinds: circle, disc, box")]),
        ({"kind": 5}, [(("kind",), "unknown kind 5; valid kinds: circle, disc, box")]),
        ({"kind": "blob"}, [(("kind",), "no.")]),
        ({"kind": "box"}, [(("width",), "kind 'box' needs 'width' or 'breadth'")]),
        (
            {"kind": "box", "width": 1, "radius": 2, "colour": 3, "widht": 4},
            [
                (("radius",), "kind 'box' does not take 'radius'"),
                (("colour",), "unknown option 'colour'"),
                (("widht",), "unknown option 'widht' (did you mean 'width'?)"),
            ],
        ),
        (
            {"kind": "box", "width": 1, "breadth": 2},
            [(("breadth",), "set 'width' or 'breadth', not both")],
        ),
        (
            {"kind": "circle", "radius": "big"},
            [(("radius",), "Input should be a valid number, unable to parse string as a number")],
        ),
    ],
)
def test_errors_are_located_at_the_option_without_the_tag(
    data: dict[str, Any], expected: list[tuple[tuple[str, ...], str]]
) -> None:
    assert errors(data) == expected


def test_a_non_map_is_pydantics_error() -> None:
    [(loc, message)] = errors(["kind", "box"])
    assert loc == ()
    assert "dictionary" in message


def test_a_message_with_braces_is_kept_as_it_is() -> None:
    assert errors({"kind": "{x}"})[0][1].startswith("unknown kind '{x}'")


def test_a_plain_model_with_two_spellings_says_set_one() -> None:
    class Options(SpelledOptions):
        source_fields: tuple[str, ...] = Field(
            default=("data",), validation_alias=AliasChoices("source_fields", "source_field")
        )

    assert Options.model_validate({"source_field": ["a"]}).source_fields == ("a",)
    with pytest.raises(ValidationError) as caught:
        Options.model_validate({"source_field": "a", "source_fields": ["b"], "other": 1})
    assert [(item["loc"], item["msg"]) for item in caught.value.errors()] == [
        (("source_field",), "set 'source_fields' or 'source_field', not both"),
        (("other",), "Extra inputs are not permitted"),
    ]


def test_option_names_lists_every_spelling() -> None:
    assert option_names(Box) == {
        "kind": "kind",
        "label": "label",
        "width": "width",
        "breadth": "width",
    }


def test_a_variant_must_narrow_the_tag_to_a_literal() -> None:
    class Loose(Shape):
        kind: str

    with pytest.raises(
        TypeError, match="Loose must subclass Shape and declare 'kind' as a Literal"
    ):
        Shape.declare_variants("kind", [Loose])
