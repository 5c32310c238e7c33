"""`gp-celery run --workers 2` (private redis-server, listener, prefork worker) writes what
embedded `gp-celery run` writes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import orjson

from tests.conftest import ROOT
from tests.distributed.conftest import GP, ids_of, line, sink_events, write_config


def without_event_id(events: list[dict[str, Any]]) -> list[bytes]:
    """Events as sorted canonical JSON, minus the per-run random event id."""
    for event in events:
        del event["gambolputty"]["event_id"]
    return sorted(orjson.dumps(event, option=orjson.OPT_SORT_KEYS) for event in events)


def run(config: Path, stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [GP, "run", "-c", str(config), *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "GP_BROKER_URL": "redis://127.0.0.1:1/0"},  # must not be used
        timeout=60,
        check=False,
    )


def test_workers_2_writes_the_same_events_as_embedded_mode(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path,
        f"""- Global:
   batch_size: 50
   batch_ms: 50
- StdIn: {{}}
- RegexParser:
   field_extraction_patterns:
    - test_line: '^id-(?P<number>\\d+) message (?P<again>\\d+)'
- ModifyFields:
   filter: re.match('.*7$', $(data))
   action: cast_to_int
   source_fields: [number]
   add_fields: {{sevens: yes}}
- FileSink:
   file_name: {out}
   json_lines: true
""",
    )
    count = 5000
    stdin = "".join(f"{line(n)}\n" for n in range(count)).encode()

    embedded = run(config, stdin)
    assert embedded.returncode == 0, embedded.stderr.decode()[-3000:]
    embedded_events = sink_events(out)
    out.unlink()

    cluster = run(config, stdin, "--workers", "2")
    assert cluster.returncode == 0, cluster.stderr.decode()[-3000:]
    cluster_events = sink_events(out)
    # It really went through the broker: the listener counted what it published.
    assert f"Listener: published {count} records" in cluster.stderr.decode()
    assert "Listener:" not in embedded.stderr.decode()

    assert set(ids_of(cluster_events).values()) == {1}
    assert sorted(ids_of(cluster_events)) == list(range(count))
    assert len({e["gambolputty"]["event_id"] for e in cluster_events}) == count
    assert sum(1 for e in cluster_events if e.get("sevens")) == count // 10
    assert without_event_id(cluster_events) == without_event_id(embedded_events)
