"""FileSink: paths per event, lines/JSON/gzip, safe paths, failures reported, nothing lost."""

from __future__ import annotations

import gzip
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from gp_celery.event import errors_of
from gp_celery.testing import BuildError, build, pipeline, run


def sink(tmp_path: Path, file_name: str = "out.log", **options: Any) -> Any:
    return build("FileSink", {"file_name": str(tmp_path / file_name), **options})


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_default_format_writes_data_lines(tmp_path: Path) -> None:
    assert run(sink(tmp_path), [{"data": "one"}, {"data": "two"}]) == []
    assert lines(tmp_path / "out.log") == ["one", "two"]


def test_batches_are_appended(tmp_path: Path) -> None:
    module = sink(tmp_path)
    run(module, [{"data": "one"}])
    run(module, [{"data": "two"}])
    module.close()
    assert lines(tmp_path / "out.log") == ["one", "two"]


def test_format_template_missing_field_renders_empty(tmp_path: Path) -> None:
    run(sink(tmp_path, format="$(host): $(msg)"), [{"host": "a", "msg": "m"}, {"msg": "n"}])
    assert lines(tmp_path / "out.log") == ["a: m", ": n"]


def test_json_lines_hold_every_whole_event(tmp_path: Path) -> None:
    events = [{"data": f"line {i}", "n": i, "nested": {"ü": [1, None]}} for i in range(500)]
    assert run(sink(tmp_path, json_lines=True), events) == []
    parsed = [orjson.loads(line) for line in (tmp_path / "out.log").read_bytes().splitlines()]
    assert [event["n"] for event in parsed] == list(range(500))
    assert parsed[0]["nested"] == {"ü": [1, None]}
    assert "event_id" in parsed[0]["gambolputty"]


def test_json_lines_convert_odd_values_instead_of_failing(tmp_path: Path) -> None:
    events = [{"b": b"\xffx", "s": {1}, "big": 10**30, "k": {1: "int key"}, "u": "\udcff"}]
    assert run(sink(tmp_path, json_lines=True), events) == []
    [line] = (tmp_path / "out.log").read_bytes().splitlines()
    decoded = json.loads(line)  # orjson would read the big int as a float
    assert decoded["big"] == 10**30
    assert decoded["s"] == [1]
    assert decoded["k"] == {"1": "int key"}
    assert decoded["u"] == "\ufffd"
    assert orjson.loads(line)["b"] == "\\xffx"


def test_unencodable_event_fails_alone(tmp_path: Path) -> None:
    circular: dict[str, Any] = {"data": "loop"}
    circular["self"] = circular
    module = sink(tmp_path, json_lines=True)
    failures = module.write([{"data": "a"}, circular, {"data": "b"}])
    assert [(f.index, f.retriable) for f in failures] == [(1, False)]
    assert len(lines(tmp_path / "out.log")) == 2


def test_gzip_output_is_readable_and_holds_every_event(tmp_path: Path) -> None:
    module = sink(tmp_path, "out.log.gz", compress="gzip", json_lines=True)
    for batch in range(3):
        run(module, [{"batch": batch, "i": i} for i in range(100)])
    module.close()
    with gzip.open(tmp_path / "out.log.gz") as handle:
        decoded = [orjson.loads(line) for line in handle.read().splitlines()]
    assert [(e["batch"], e["i"]) for e in decoded] == [(b, i) for b in range(3) for i in range(100)]


def test_two_paths_from_one_batch(tmp_path: Path) -> None:
    events = [{"host": "a", "data": "1"}, {"host": "b", "data": "2"}, {"host": "a", "data": "3"}]
    assert run(sink(tmp_path, "$(host)/x.log"), events) == []
    assert lines(tmp_path / "a" / "x.log") == ["1", "3"]
    assert lines(tmp_path / "b" / "x.log") == ["2"]


def test_strftime_is_utc_and_applied_before_templates(tmp_path: Path) -> None:
    module = sink(tmp_path, "%Y/$(host)-%(kind)s-%m.log")
    run(module, [{"host": "h%Y", "kind": "k", "data": "x"}])
    now = time.gmtime()
    expected = tmp_path / time.strftime("%Y", now) / f"h%Y-k-{time.strftime('%m', now)}.log"
    assert lines(expected) == ["x"]


@pytest.mark.parametrize("host", ["../../etc", "..", "a/../../b", "x/.."])
def test_path_traversal_from_event_data_is_refused(tmp_path: Path, host: str) -> None:
    module = build("FileSink", {"file_name": str(tmp_path / "logs" / "$(host)" / "x.log")})
    failures = module.write([{"host": host, "data": "evil"}, {"host": "ok", "data": "fine"}])
    assert [(f.index, f.retriable) for f in failures] == [(0, False)]
    assert "'..'" in failures[0].error
    assert [p.name for p in tmp_path.rglob("*.log")] == ["x.log"]
    assert lines(tmp_path / "logs" / "ok" / "x.log") == ["fine"]


def test_dot_dot_written_in_the_config_itself_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    run(sink(tmp_path, "sub/../$(host).log"), [{"host": "h", "data": "x"}])
    assert lines(tmp_path / "h.log") == ["x"]


def test_missing_field_that_empties_a_directory_level_is_refused(tmp_path: Path) -> None:
    failed = run(
        sink(tmp_path, "$(host)/x.log"), [{"data": "no host"}, {"host": "", "data": "empty"}]
    )
    assert len(failed) == 2
    assert all("empty path component" in errors_of(e)[0]["reason"] for e in failed)


def test_missing_field_inside_a_name_renders_empty(tmp_path: Path) -> None:
    assert run(sink(tmp_path, "app-$(host).log"), [{"data": "x"}]) == []
    assert lines(tmp_path / "app-.log") == ["x"]


def test_nul_byte_in_a_path_value_is_refused(tmp_path: Path) -> None:
    [failure] = sink(tmp_path, "$(host).log").write([{"host": "a\0b", "data": "x"}])
    assert not failure.retriable
    assert "NUL" in failure.error


def test_directory_as_target_is_a_non_retriable_failure(tmp_path: Path) -> None:
    (tmp_path / "out.log").mkdir()
    failures = sink(tmp_path).write([{"data": "a"}, {"data": "b"}])
    assert [(f.index, f.retriable) for f in failures] == [(0, False), (1, False)]
    assert "Is a directory" in failures[0].error


def test_full_disk_is_a_retriable_failure() -> None:
    module = build("FileSink", {"file_name": "/dev/full"})
    failures = module.write([{"data": "a"}])
    assert [(f.index, f.retriable) for f in failures] == [(0, True)]
    assert "No space left" in failures[0].error


def test_open_files_are_bounded(tmp_path: Path) -> None:
    module = sink(tmp_path, "$(n).log", max_open_files=2)
    run(module, [{"n": str(i), "data": f"x{i}"} for i in range(5)])
    run(module, [{"n": "0", "data": "again"}])
    assert len(module._handles) == 2
    assert lines(tmp_path / "0.log") == ["x0", "again"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{i}.log" for i in range(5)]


def test_tick_closes_idle_files(tmp_path: Path) -> None:
    module = sink(tmp_path, idle_close_secs=30)
    module.tick(100.0)
    run(module, [{"data": "x"}])
    module.tick(110.0)
    assert len(module._handles) == 1
    module.tick(131.0)
    assert len(module._handles) == 0


def test_rotated_file_is_reopened(tmp_path: Path) -> None:
    module = sink(tmp_path)
    run(module, [{"data": "before"}])
    (tmp_path / "out.log").rename(tmp_path / "out.log.1")
    module.tick(1.0)
    run(module, [{"data": "after"}])
    assert lines(tmp_path / "out.log.1") == ["before"]
    assert lines(tmp_path / "out.log") == ["after"]


def test_close_leaves_no_open_files(tmp_path: Path) -> None:
    module = sink(tmp_path, "$(n).log")
    run(module, [{"n": "a"}, {"n": "b"}])
    module.close()
    assert len(module._handles) == 0


def test_hostile_payloads_are_written(tmp_path: Path) -> None:
    events = [
        {"data": "ünï©ødé 🎉"},
        {"data": "raw \udcff byte"},
        {"data": "x" * 5_000_000},
        {"data": 42},
        {"data": {"a": 1}},
        {"data": "two\nlines"},
    ]
    assert run(sink(tmp_path), events) == []
    raw = (tmp_path / "out.log").read_bytes()
    assert raw.startswith("ünï©ødé 🎉\nraw ".encode() + b"\xff byte\n")
    assert raw.endswith(b"\n42\n{'a': 1}\ntwo\nlines\n")


def test_nothing_is_lost(tmp_path: Path) -> None:
    events = [{"host": "a" if i % 3 else "../x", "data": str(i)} for i in range(300)]
    failed = run(sink(tmp_path, "d/$(host).log"), events)
    written = lines(tmp_path / "d" / "a.log")
    assert len(written) + len(failed) == len(events)
    assert sorted(written + [e["data"] for e in failed], key=int) == [str(i) for i in range(300)]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"file_name": "x", "json_lines": True, "format": "$(a)"}, "not both"),
        ({"file_name": "x", "compress": "zip"}, "compress"),
        ({"file_name": "dir/"}, "directory"),
        ({"file_name": "$(unclosed"}, "bad file_name"),
        ({}, "file_name"),
    ],
)
def test_bad_options_are_load_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("FileSink", options)


@pytest.mark.skipif(
    importlib.util.find_spec("snappy") is not None, reason="python-snappy installed"
)
def test_snappy_without_python_snappy_is_a_clear_load_error() -> None:
    with pytest.raises(BuildError, match="compress 'snappy' is not supported"):
        build("FileSink", {"file_name": "x", "compress": "snappy"})


def test_gambolputty_buffer_options_are_accepted(tmp_path: Path) -> None:
    module = sink(tmp_path, store_interval_in_secs=5, batch_size=100, backlog_size=1000)
    assert run(module, [{"data": "x"}]) == []


def test_runs_in_a_pipeline_with_the_lumbermill_name(tmp_path: Path) -> None:
    config = tmp_path / "p.yml"
    config.write_text(f"- output.File:\n   file_name: {tmp_path}/p-$(n).log\n")
    run(pipeline(config), [{"n": 1, "data": "a"}, {"n": 2, "data": "b"}])
    assert lines(tmp_path / "p-1.log") == ["a"]
    assert lines(tmp_path / "p-2.log") == ["b"]
