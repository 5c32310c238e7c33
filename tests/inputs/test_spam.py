from __future__ import annotations

import time

import pytest

from gp_celery.event import META, SOURCE_MODULE, Event
from gp_celery.testing import BuildError, build
from tests.inputs.conftest import ServeFactory, run_to_end


def spam(**options: object) -> list[Event]:
    return run_to_end(build("Spam", options)).events


def test_events_count_events_are_sent_in_batches_of_up_to_500() -> None:
    recorder = run_to_end(build("Spam", {"event": "spam", "events_count": 1200}))
    assert recorder.batches == [500, 500, 200]
    assert recorder.data == ["spam"] * 1200
    assert recorder.events[0][META][SOURCE_MODULE] == "Spam"
    assert len({event[META]["event_id"] for event in recorder.events}) == 1200


def test_a_list_is_cycled_through() -> None:
    events = spam(event=["a", "b", {"data": "c"}], events_count=7)
    assert [event["data"] for event in events] == ["a", "b", "c", "a", "b", "c", "a"]


def test_a_dict_is_merged_into_each_event_without_sharing_values() -> None:
    template = {"data": "GET /", "fields": ["x"], "gambolputty": {"event_type": "httpd"}}
    events = spam(event=template, events_count=2)
    assert [event["fields"] for event in events] == [["x"], ["x"]]
    assert all(event[META]["event_type"] == "httpd" for event in events)
    events[0]["fields"].append("changed")
    assert events[1]["fields"] == ["x"]
    assert events[0][META]["event_id"] != events[1][META]["event_id"]


def test_a_dict_without_data_gives_empty_data() -> None:
    (event,) = spam(event={"message": "hi"}, events_count=1)
    assert event["data"] == ""
    assert event["message"] == "hi"


def test_sleep_paces_events_one_at_a_time() -> None:
    started = time.monotonic()
    recorder = run_to_end(build("Spam", {"event": "slow", "sleep": 0.05, "events_count": 5}))
    assert recorder.batches == [1] * 5
    assert time.monotonic() - started >= 0.2


def test_events_count_zero_runs_until_cancelled(serve_input: ServeFactory) -> None:
    serving = serve_input("Spam", {"event": "forever"})
    serving.emit.wait_for(5000)
    serving.stop()
    count = len(serving.emit.events)
    time.sleep(0.1)
    assert len(serving.emit.events) == count
    assert set(serving.emit.batches) == {500}


def test_spam_ends_the_pipeline_when_done() -> None:
    assert build("Spam").ends_pipeline


@pytest.mark.parametrize(
    "options",
    [{"event": []}, {"event": 5}, {"event": [1]}, {"sleep": -1}, {"events_count": -1}],
)
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(BuildError):
        build("Spam", options)
