"""`gp-celery run` with an ElasticSearch input that reads an index of the stand-in once."""

from __future__ import annotations

from pathlib import Path

import orjson
from elasticsearch import helpers

from tests.e2e.conftest import gp
from tests.stand_ins.es_server import EsServer


def test_run_reads_every_document_once_and_ends(tmp_path: Path, es_stand_in: EsServer) -> None:
    with es_stand_in.client() as es:
        documents = [{"_index": "e2e", "data": f"doc {n}", "n": n} for n in range(300)]
        assert helpers.bulk(es, documents) == (300, [])
    config = tmp_path / "es.yml"
    config.write_text(
        f"""- ElasticSearch:
   nodes: {es_stand_in.url}
   index_name: e2e
   batch_size: 100
   query_interval_in_secs: 0
- StdOutSink:
   json_lines: true
"""
    )
    result = gp("run", "-c", str(config), timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    events = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [(event["data"], event["n"]) for event in events] == [
        (f"doc {n}", n) for n in range(300)
    ]
    assert "read 300 documents from 'e2e'" in result.stderr.decode()
