"""WebHdfsSink against the WebHDFS stand-in (tests/stand_ins/webhdfs.py, real HTTP):
the two-step create and append, paths per event, gzip, failures classified, nothing lost."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gp_celery.config import parse_config
from gp_celery.event import errors_of
from gp_celery.modules.sinks.web_hdfs_sink import is_retriable
from gp_celery.pipeline.sink_writer import SinkWriter
from gp_celery.testing import BuildError, build, pipeline, run
from tests.conftest import free_port
from tests.stand_ins.webhdfs import WebHdfsStandIn, webhdfs_stand_in


@pytest.fixture
def hdfs() -> Iterator[WebHdfsStandIn]:
    with webhdfs_stand_in() as stand_in:
        yield stand_in


def sink(hdfs: WebHdfsStandIn, **options: Any) -> Any:
    settings = {
        "server": f"127.0.0.1:{hdfs.port}",
        "user": "gp",
        "path": "/logs",
        "name_pattern": "events.log",
        "format": "$(data)",
        **options,
    }
    return build("WebHdfsSink", settings)


def reasons(failed: list[dict[str, Any]]) -> list[str]:
    return [errors_of(event)[0]["reason"] for event in failed]


def test_first_batch_creates_the_file_and_later_ones_append(hdfs: WebHdfsStandIn) -> None:
    module = sink(hdfs)
    assert run(module, [{"data": "one"}, {"data": "two"}]) == []
    assert run(module, [{"data": "three"}]) == []
    assert hdfs.read("/logs/events.log") == b"one\ntwo\nthree\n"
    steps = [(server, method, op) for server, method, op, _ in hdfs.state.requests]
    assert steps == [
        ("namenode", "POST", "APPEND"),  # 404: no such file yet
        ("namenode", "PUT", "CREATE"),  # 307 to the datanode
        ("datanode", "PUT", "CREATE"),
        ("namenode", "POST", "APPEND"),
        ("datanode", "POST", "APPEND"),
    ]


def test_data_is_sent_only_after_the_redirect(hdfs: WebHdfsStandIn) -> None:
    run(sink(hdfs), [{"data": "x" * 1000}])
    run(sink(hdfs), [{"data": "y"}])
    for server, _method, _op, length in hdfs.state.requests:
        assert (length > 0) == (server == "datanode")


def test_files_are_named_per_event_with_strftime_in_utc(hdfs: WebHdfsStandIn) -> None:
    module = sink(hdfs, path="/logs/%Y", name_pattern="$(host)-%m.log")
    assert run(module, [{"host": "a", "data": "1"}, {"host": "b", "data": "2"}]) == []
    year, month = time.strftime("%Y %m", time.gmtime()).split()
    assert hdfs.files() == {
        f"/logs/{year}/a-{month}.log": b"1\n",
        f"/logs/{year}/b-{month}.log": b"2\n",
    }


def test_gzip_appends_one_member_per_batch_to_a_gz_file(hdfs: WebHdfsStandIn) -> None:
    module = sink(hdfs, compress="gzip")
    run(module, [{"data": "one"}])
    run(module, [{"data": "two"}])
    assert gzip.decompress(hdfs.read("/logs/events.log.gz")) == b"one\ntwo\n"


def test_a_format_ending_in_a_newline_gets_no_second(hdfs: WebHdfsStandIn) -> None:
    run(sink(hdfs, format="$(data)\n"), [{"data": "a"}, {"data": "b"}])
    assert hdfs.read("/logs/events.log") == b"a\nb\n"


@pytest.mark.parametrize(
    ("status", "exception", "retriable"),
    [
        (403, "AlreadyBeingCreatedException", True),
        (403, "RecoveryInProgressException", True),
        (403, "StandbyException", True),
        (503, "SafeModeException", True),
        (500, "IOException", True),
        (403, "AccessControlException", False),
        (400, "IllegalArgumentException", False),
        (401, "SecurityException", False),
    ],
)
def test_append_errors_are_retried_or_dead_lettered_by_their_kind(
    hdfs: WebHdfsStandIn, status: int, exception: str, retriable: bool
) -> None:
    module = sink(hdfs)
    run(module, [{"data": "first"}])
    hdfs.inject("APPEND", status, exception)
    failures = module.write([{"data": "a"}, {"data": "b"}])
    assert [(f.index, f.retriable) for f in failures] == [(0, retriable), (1, retriable)]
    assert exception in failures[0].error
    assert hdfs.read("/logs/events.log") == b"first\n"
    assert module.write([{"data": "a"}, {"data": "b"}]) == []  # the fault is gone
    assert hdfs.read("/logs/events.log") == b"first\na\nb\n"


def test_another_writer_creating_the_file_first_is_retried(hdfs: WebHdfsStandIn) -> None:
    hdfs.inject("CREATE", 403, "FileAlreadyExistsException")
    [failure] = sink(hdfs).write([{"data": "a"}])
    assert failure.retriable


def test_server_down_is_a_retriable_failure_of_every_event() -> None:
    module = build(
        "WebHdfsSink",
        {
            "server": f"127.0.0.1:{free_port()}",
            "user": "gp",
            "path": "/logs",
            "name_pattern": "x.log",
            "format": "$(data)",
            "timeout_secs": 2,
        },
    )
    failures = module.write([{"data": "a"}, {"data": "b"}])
    assert [(f.index, f.retriable) for f in failures] == [(0, True), (1, True)]
    assert "no answer" in failures[0].error


def test_connection_reset_during_the_data_step_is_retried(hdfs: WebHdfsStandIn) -> None:
    module = sink(hdfs)
    run(module, [{"data": "first"}])
    hdfs.reset_next_data()
    failures = module.write([{"data": "lost?"}])
    assert [f.retriable for f in failures] == [True]
    assert module.write([{"data": "lost?"}]) == []
    assert hdfs.read("/logs/events.log") == b"first\nlost?\n"


def test_a_failing_file_fails_only_its_own_events(hdfs: WebHdfsStandIn) -> None:
    module = sink(hdfs, name_pattern="$(host).log")
    run(module, [{"host": "a", "data": "0"}, {"host": "b", "data": "0"}])
    hdfs.inject("APPEND", 403, "AccessControlException")  # the first file's append
    failed = run(module, [{"host": "a", "data": "1"}, {"host": "b", "data": "2"}])
    assert [event["host"] for event in failed] == ["a"]
    assert hdfs.read("/logs/b.log") == b"0\n2\n"


@pytest.mark.parametrize("host", ["../../etc", "..", "a\0b"])
def test_path_traversal_from_event_data_is_refused(hdfs: WebHdfsStandIn, host: str) -> None:
    module = sink(hdfs, path="/logs/$(host)")
    failed = run(module, [{"host": host, "data": "bad"}, {"host": "ok", "data": "good"}])
    assert [event["data"] for event in failed] == ["bad"]
    assert hdfs.files() == {"/logs/ok/events.log": b"good\n"}


@pytest.mark.parametrize(
    "value",
    [None, 0, 2**70, ["a", 1], {"k": "v"}, b"\xff\xfe", "caf\udce9", "x" * 1_000_000, ""],
    ids=["none", "int", "bigint", "list", "dict", "bytes", "surrogate", "oversize", "empty"],
)
def test_hostile_values_are_written_and_nothing_is_lost(hdfs: WebHdfsStandIn, value: Any) -> None:
    events = [{"data": "before"}, {"data": value}, {"data": "after"}]
    assert run(sink(hdfs), events) == []
    lines = hdfs.read("/logs/events.log").split(b"\n")
    assert lines[0] == b"before"
    assert lines[-2:] == [b"after", b""]


@pytest.mark.parametrize(
    ("status", "exception", "retriable"),
    [
        (None, "", True),
        (403, "AlreadyBeingCreatedException", True),
        (403, "LeaseExpiredException", True),
        (403, "DSQuotaExceededException", True),
        (403, "RetriableException", True),
        (403, "FileAlreadyExistsException", True),
        (429, "", True),
        (500, "", True),
        (502, "", True),
        (503, "", True),
        (504, "", True),
        (400, "IllegalArgumentException", False),
        (401, "", False),
        (403, "AccessControlException", False),
        (404, "FileNotFoundException", False),
        (404, "ParentNotDirectoryException", False),
        (405, "", False),
    ],
)
def test_is_retriable(status: int | None, exception: str, retriable: bool) -> None:
    assert is_retriable(status, exception) is retriable


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"path": "logs"}, "absolute"),
        ({"name_pattern": "a/b.log"}, "name_pattern"),
        ({"name_pattern": ""}, "name_pattern"),
        ({"server": "nohost"}, "host:port"),
        ({"compress": "zip"}, "compress"),
        ({"format": "$(x"}, "format"),
        ({"name_pattern": "$(x.log"}, "name_pattern"),
        ({"timeout_secs": 0}, "timeout_secs"),
    ],
)
def test_bad_options_are_load_errors(options: dict[str, Any], message: str) -> None:
    settings = {"user": "gp", "path": "/logs", "name_pattern": "x.log", "format": "$(data)"}
    with pytest.raises(BuildError, match=message):
        build("WebHdfsSink", {**settings, **options})


def test_user_path_name_pattern_and_format_are_required() -> None:
    with pytest.raises(BuildError) as error:
        build("WebHdfsSink", {})
    for option in ("user", "path", "name_pattern", "format"):
        assert option in str(error.value)


def test_runs_in_a_pipeline_with_the_lumbermill_name(hdfs: WebHdfsStandIn) -> None:
    config = (
        f"- output.WebHdfs:\n    server: {hdfs.url}\n    user: gp\n    path: /p\n"
        "    name_pattern: out.log\n    format: $(data)\n    batch_size: 10\n"
    )
    run(pipeline(parse_config(config)), [{"data": "through the pipeline"}])
    assert hdfs.read("/p/out.log") == b"through the pipeline\n"


VALUES = st.one_of(
    st.none(),
    st.text(),
    st.binary(),
    st.integers(),
    st.floats(),
    st.lists(st.text(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(VALUES, min_size=1, max_size=20))
def test_any_field_values_in_the_path_are_written_or_failed_never_lost(
    hdfs: WebHdfsStandIn, values: list[Any]
) -> None:
    module = sink(hdfs, path="/prop/$(data)", name_pattern="$(run).log", format="$(n)")
    run_id = str(len(hdfs.state.requests))
    events = [{"data": value, "n": n, "run": run_id} for n, value in enumerate(values)]
    failed = {failure.index for failure in module.write(events)}
    written = [
        int(line)
        for path, data in hdfs.files().items()
        if path.endswith(f"/{run_id}.log")
        for line in data.decode().splitlines()
    ]
    assert sorted(written + sorted(failed)) == list(range(len(values)))


def test_the_runner_retries_a_held_lease_and_dead_letters_a_refusal(hdfs: WebHdfsStandIn) -> None:
    letters: list[tuple[str, list[dict[str, Any]], int]] = []
    module = sink(hdfs)
    writer = SinkWriter(module, 3, 0.0, lambda node, batch, n: letters.append((node, batch, n)))
    writer.sleep = lambda _secs: None
    hdfs.inject("APPEND", 403, "AlreadyBeingCreatedException", times=2)
    assert writer.write([{"data": "a"}, {"data": "b"}]) == (2, 0)
    assert hdfs.read("/logs/events.log") == b"a\nb\n"
    hdfs.inject("APPEND", 403, "AccessControlException", times=5)
    assert writer.write([{"data": "c"}]) == (0, 1)
    [(_node, [event], attempts)] = letters
    assert event["data"] == "c"
    assert attempts == 1  # not retriable: dead-lettered at once, whole, with its error
    assert "AccessControlException" in errors_of(event)[0]["reason"]
    assert hdfs.read("/logs/events.log") == b"a\nb\n"
