"""The codec helpers JsonParser, MsgPackParser and the sinks share."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gp_celery.modules.parsers.codec import describe, jsonable, loads
from gp_celery.modules.sinks.encoding import json_line
from gp_celery.testing import build, run


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"caf\xc3\xa9", "café"),
        (b"\xff", "\\xff"),
        (bytearray(b"ab"), "ab"),
        (memoryview(b"ab"), "ab"),
        ({3}, [3]),
        (frozenset({"x"}), ["x"]),
        ((1, 2), [1, 2]),
        (complex(1, 2), "(1+2j)"),
    ],
)
def test_jsonable_names_what_json_cannot_hold(value: Any, expected: Any) -> None:
    assert jsonable(value) == expected


def test_json_parser_and_sinks_write_odd_values_alike() -> None:
    event = {"raw": b"\xffok", "tags": {"a"}}
    encoder = build("JsonParser", {"action": "encode", "source_fields": ["raw", "tags"]})
    [out] = run(encoder, [event])
    assert orjson.loads(out["data"]) == orjson.loads(json_line(event))


def test_concatenated_documents_decode_to_a_list() -> None:
    assert loads('{"a": 1} {"a": 2}\n{"a": 3}') == [{"a": 1}, {"a": 2}, {"a": 3}]


@pytest.mark.parametrize(
    ("value", "text"), [([], "an empty list"), ([1, 2], "a list of 2 items"), (1, "an int")]
)
def test_describe_names_a_value_without_printing_it(value: Any, text: str) -> None:
    assert describe(value) == text
