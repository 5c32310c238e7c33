"""Metrics in `gp-celery run`: the last interval's metrics events reach the sink at the end."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.e2e.conftest import gp


def test_the_metrics_of_a_run_reach_the_file_sink_when_it_ends(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    config = tmp_path / "p.yml"
    config.write_text(
        f"""- StdIn
- JsonParser
- Metrics:
   interval: 3600
   aggregations: [{{name: 'status_$(vhost)', field: status}}]
   percentiles: [{{name: time, field: t, percentiles: [50]}}]
- FileSink: {{file_name: '{out}', json_lines: true}}
"""
    )
    lines = [{"vhost": "a", "status": 200, "t": n} for n in (1, 2, 3)] + [{"vhost": "a", "t": "x"}]
    stdin = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    result = gp("run", "-c", str(config), stdin=stdin)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    written = [orjson.loads(row) for row in out.read_bytes().splitlines()]
    assert len(written) == len(lines) + 2
    found = {e["field_name"]: e for e in written if e["gambolputty"]["event_type"] == "metrics"}
    assert found["status_a"]["field_counts"] == {"200": 3}
    assert (found["time"]["count"], found["time"]["percentiles"]) == (3, [2.0])
    tagged = [e for e in written if e["gambolputty"].get("errors")]
    assert [e["t"] for e in tagged] == ["x"]
