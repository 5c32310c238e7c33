"""The shared sink helpers: which OS errors are retried, and batch encoding."""

from __future__ import annotations

import errno
import os

import orjson
import pytest

from gp_celery.expressions import compile_template
from gp_celery.modules.sinks.encoding import (
    encode_json_lines,
    encode_rendered,
    encode_text,
    is_retriable,
    json_line,
)


@pytest.mark.parametrize(
    "code", [errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EMFILE, errno.EAGAIN]
)
def test_transient_errors_are_retriable(code: int) -> None:
    assert is_retriable(OSError(code, os.strerror(code)))


@pytest.mark.parametrize(
    "code",
    [
        errno.EACCES,
        errno.EPERM,
        errno.EISDIR,
        errno.ENOTDIR,
        errno.EROFS,
        errno.EPIPE,
        errno.ENAMETOOLONG,
    ],
)
def test_errors_that_need_a_person_are_not_retriable(code: int) -> None:
    assert not is_retriable(OSError(code, os.strerror(code)))


def test_error_without_errno_is_not_retriable() -> None:
    assert not is_retriable(OSError("odd"))


def test_fast_path_is_one_joined_payload() -> None:
    payload, failed = encode_json_lines([{"a": 1}, {"b": "ü"}])
    assert payload == b'{"a":1}\n{"b":"\xc3\xbc"}\n'
    assert failed == []


def test_empty_batch_encodes_to_nothing() -> None:
    assert encode_json_lines([]) == (b"", [])


def test_slow_path_reports_only_the_bad_index() -> None:
    loop: dict[str, object] = {}
    loop["me"] = loop
    payload, failed = encode_json_lines([{"a": 1}, loop, {"tuple_key": {(1, 2): 3}}, {"c": 3}])
    assert [orjson.loads(line) for line in payload.splitlines()] == [{"a": 1}, {"c": 3}]
    assert [index for index, _ in failed] == [1, 2]
    assert all(reason.startswith("cannot encode the event as JSON") for _, reason in failed)


def test_deep_nesting_is_encoded_or_reported_never_raised() -> None:
    deep: dict[str, object] = {}
    current = deep
    for _ in range(5000):
        current["d"] = {}
        current = current["d"]  # type: ignore[assignment]
    payload, failed = encode_json_lines([deep])
    assert (payload == b"" and len(failed) == 1) or json_line(deep) in payload


def test_surrogate_escaped_bytes_go_out_as_they_came_in() -> None:
    raw = b"caf\xe9"
    assert encode_text(raw.decode("utf-8", "surrogateescape")) == raw


def test_other_lone_surrogates_are_escaped_not_raised() -> None:
    assert encode_text("a\ud800b") == b"a\\ud800b"


def test_rendered_lines() -> None:
    payload, failed = encode_rendered([{"a": 1}, {}], compile_template("<$(a)>"))
    assert (payload, failed) == (b"<1>\n<>\n", [])
