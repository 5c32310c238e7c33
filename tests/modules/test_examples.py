"""Every module's documented examples (what `gp-celery modules NAME` shows) do what they say.

For a sink, ``expect`` is what it wrote (to stdout, to files, or to the real receiver that
tests/modules/sinks/targets.py starts for a network sink), read back as the events an
input would make of it: each JSON line as its object with ``json_lines: true``, any other
line as ``{"data": line}``; for ElasticSearchSink, the documents in the Elasticsearch stand-in.
Nothing may fail. An absolute ``file_name`` is written under a
temporary directory, so examples can show real paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from gp_celery.event import Event, event_type
from gp_celery.modules.base import Example, Sink
from gp_celery.modules.registry import all_modules
from gp_celery.testing import build, run
from tests.modules.services import served
from tests.modules.sinks.targets import sink_target

CASES = [
    pytest.param(name, example, id=f"{name}-{index}")
    for name, cls in all_modules().items()
    for index, example in enumerate(cls.examples)
]


def test_every_module_documents_an_example() -> None:
    missing = [
        name
        for name, cls in all_modules().items()
        if not cls.examples
        and cls.__module__.startswith(("gp_celery.", "gp_celery_inputs."))  # not tests' own plugins
    ]
    assert missing == []


def read_back(options: dict[str, Any], text: str) -> list[Event]:
    """What a sink wrote, as the events an input would make of it."""
    if options.get("json_lines"):
        return [orjson.loads(line) for line in text.splitlines()]
    return [{"data": line} for line in text.splitlines()]


def stored(name: str, example: Example, request: pytest.FixtureRequest) -> list[Event]:
    """What an ElasticSearchSink stored in the stand-in: each document with its _index and
    _id."""
    server = request.getfixturevalue("es_stand_in")
    sink = build(name, {**example.options, "nodes": [server.url]})
    assert run(sink, example.given) == []
    sink.close()
    with server.client() as es:
        hits = es.search(index="_all", size=1000)["hits"]["hits"]
    return [{"_index": hit["_index"], "_id": hit["_id"], **hit["_source"]} for hit in hits]


def searched(name: str, example: Example, request: pytest.FixtureRequest) -> list[Event]:
    """What an ElasticSearch input reads when the documents ``given`` are in the stand-in."""
    from elasticsearch import helpers

    server = request.getfixturevalue("es_stand_in")
    index = example.options["index_name"]
    with server.client() as es:
        helpers.bulk(es, [{"_index": index, "_source": document} for document in example.given])
    return run(build(name, {**example.options, "nodes": [server.url]}), [])


def written(
    name: str,
    example: Example,
    root: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> Any:
    options = dict(example.options)
    # A network sink writes to a real receiver.
    target = sink_target(name, options, request, len(example.expect))
    if target is not None:
        sink = build(name, target.options)
        assert run(sink, example.given) == []
        sink.close()
        return target.received()
    file_name = options.get("file_name")
    if isinstance(file_name, str) and file_name.startswith("/"):
        options["file_name"] = str(root) + file_name
    sink = build(name, options)
    assert run(sink, example.given) == []
    sink.close()
    text = capsys.readouterr().out
    text += "".join(path.read_text() for path in sorted(root.rglob("*")) if path.is_file())
    return read_back(options, text)


@pytest.mark.parametrize(("name", "example"), CASES)
def test_example(
    name: str,
    example: Example,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    if name == "ElasticSearchSink":
        out = stored(name, example, request)
    elif name == "ElasticSearch":
        out = searched(name, example, request)
    elif issubclass(all_modules()[name], Sink):
        monkeypatch.chdir(tmp_path)  # a relative file_name lands here too
        out = written(name, example, tmp_path, capsys, request)
    else:
        out = run(build(name, served(example.options, request)), example.given)
    assert len(out) == len(example.expect)
    for got, expected in zip(out, example.expect, strict=True):
        assert {key: got.get(key) for key in expected} == expected
        if example.event_type is not None:
            assert event_type(got) == example.event_type
