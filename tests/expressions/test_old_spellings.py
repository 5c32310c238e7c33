"""Old configs as their authors meant them: printf conversions, ``%(field)``, LumberMill's
metadata key and typed values (issue 7, CORE 3.2)."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from gp_celery.event import MISSING, field_path, new_event
from gp_celery.expressions import ExpressionError, compile_filter, compile_template, compile_value

EVENT = {
    "bytes": 3395,
    "bytes_text": "3395",
    "ratio": 13.40406,
    "x": 13.40406,
    "name": "Guido van Rossum",
    "interval": 10,
    "host": "web1",
    "a": "A",
    "b": "B",
    "n": 5,
    "word": "abc",
    "fields": ["nobody", "expects"],
}


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("$(bytes)d", "3395"),
        ("$(ratio).2f", "13.40"),
        ("$(x)06.2f", "013.40"),
        ("[$(name)-10s]", "[Guido van Rossum]"),
        ("[$(host)-10s]", "[web1      ]"),
        ("[$(host)10s]", "[      web1]"),
        ("$(name).5s", "Guido"),
        ("$(n)+d", "+5"),
        ("event_rate_$(interval)s", "event_rate_10"),
        ("$(bytes_text)d bytes", "3395 bytes"),  # parsers yield text: numeric text formats
        ("$(bytes_text).1f", "3395.0"),
        ("$(ratio)d", "13"),
        ("%(bytes)d and %(ratio).1f", "3395 and 13.4"),
        ("$(n)d/$(x).1f/$(host)s", "5/13.4/web1"),  # each keeps its own conversion
    ],
)
def test_printf_conversion_after_a_reference_formats_the_value(text: str, rendered: str) -> None:
    template = compile_template(text)
    assert template.render(EVENT) == rendered
    assert template.errors == 0


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("$(host)is up", "web1is up"),  # 'i' is no conversion, as in GambolPutty's regex
        ("$(host)s are up", "web1 are up"),  # a plain 's' is one: GambolPutty ate it too
        ("$(a)-$(b)", "A-B"),  # a flag without width is text
        ("$(a)-second", "A-second"),
        ("$(a)+sign", "A+sign"),  # '+' counts only before d or f
        ("$(host).stats", "web1.stats"),  # a precision needs digits
        ("$(host).log", "web1.log"),
        ("$(n)sd", "5d"),  # how to write a letter s, d or f right after a reference
        ("$(n)10", "510"),  # digits without a type are text
        ("100% $(n)", "100% 5"),
        ("$(n)%", "5%"),
    ],
)
def test_text_after_a_reference_that_is_no_conversion_stays_text(text: str, rendered: str) -> None:
    assert compile_template(text).render(EVENT) == rendered


def test_unformattable_value_renders_unformatted_and_is_counted() -> None:
    template = compile_template("n=$(word)d!")
    assert template.render(EVENT) == "n=abc!"
    assert template.render({"word": [1]}) == "n=[1]!"
    assert template.errors == 2
    assert template.last_error is not None
    assert "$(word)d" in template.last_error
    assert "cannot format" in template.last_error


def test_missing_field_with_a_conversion_renders_empty() -> None:
    template = compile_template("[$(gone)06.2f]")
    assert template.render(EVENT) == "[]"
    assert template.try_render(EVENT) is None
    assert template.errors == 0


def test_a_formatted_lone_reference_is_text_and_a_plain_one_keeps_its_type() -> None:
    assert compile_template("$(n)d").value(EVENT) == "5"
    assert compile_template("$(n)s").value(EVENT) == "5"  # 's': the text of the value
    assert compile_template("$(n)").value(EVENT) == 5
    assert compile_template("%(n)").value(EVENT) == 5


def test_formatted_templates_survive_pickle() -> None:
    template = compile_template("$(ratio).2f")
    assert pickle.loads(pickle.dumps(template)).render(EVENT) == "13.40"


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        ('if %(fields.0) == "nobody"', {"fields": ["nobody"]}, True),
        ('if %(fields.0) == "nobody"', {"fields": ["somebody"]}, False),
        ("%(a) == 'A' and %(b)s == 'B'", {"a": "A", "b": "B"}, True),
        ("not %(gone)", {}, True),
        ("len(%(a)) == 1", {"a": "A"}, True),
        ("[%(a), 1] == ['A', 1]", {"a": "A"}, True),
        ("$(n) % (2) == 1", {"n": 5}, True),  # the modulo operator
        ("$(n) % 2 == 1", {"n": 5}, True),
        ("$(n)%(2) == 1", {"n": 5}, True),  # after a value, '%(' is still modulo
        ("$(data)s == 'x'", {"data": "x"}, True),  # a conversion in a filter is ignored
        ("$(n)d == 5", {"n": 5}, True),
        ("$(data).startswith('x')", {"data": "xy"}, True),  # '.s' is no conversion
    ],
)
def test_old_field_spellings_in_filters(text: str, fields: dict[str, Any], expected: bool) -> None:
    flt = compile_filter(text)
    assert flt(fields) is expected
    assert flt.errors == 0


def test_percent_reference_in_a_filter_names_its_column_when_broken() -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_filter("$(a) == 1 and %(b")
    assert raised.value.column == 15


def test_lumbermill_metadata_paths_read_and_write_gambolputty() -> None:
    event = new_event("x", "StdIn")
    assert compile_filter("$(lumbermill.event_type) != 'Unknown'")(event) is False
    assert compile_filter("$(lumbermill.source_module) == 'StdIn'")(event) is True
    assert compile_template("$(lumbermill.source_module)").render(event) == "StdIn"
    field_path("lumbermill.event_type").set(event, "web")
    assert event["gambolputty"]["event_type"] == "web"
    assert "lumbermill" not in event
    assert compile_filter("$(lumbermill.event_type) != 'Unknown'")(event) is True
    assert field_path("lumbermill").dotted == "gambolputty"
    assert field_path("data.lumbermill").dotted == "data.lumbermill"  # only the first segment
    assert compile_filter("$(lumbermill.x) == 1").fields == ("gambolputty.x",)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (5, 5),
        (2.5, 2.5),
        (None, None),
        ([1, "two", None], [1, "two", None]),
        ({"spam": True, "eggs": [1]}, {"spam": True, "eggs": [1]}),
        (["$(host)", {"$(a)": "$(n)d"}], ["web1", {"A": "5"}]),  # strings inside are rendered
        ("$(n)", 5),
        ("n=$(n)", "n=5"),
    ],
)
def test_typed_values_keep_their_yaml_type(raw: Any, expected: Any) -> None:
    assert compile_value(raw).value(EVENT) == expected
    assert compile_value(raw).value(EVENT) is not MISSING


def test_typed_container_values_are_fresh_per_event() -> None:
    value = compile_value({"tags": ["a"]})
    first, second = value.value(EVENT), value.value(EVENT)
    first["tags"].append("b")
    assert second == {"tags": ["a"]}
    assert value.value(EVENT) == {"tags": ["a"]}
    for clone in (pickle.loads(pickle.dumps(value)), copy.deepcopy(value)):
        assert clone == value
        assert clone.value(EVENT) == {"tags": ["a"]}
