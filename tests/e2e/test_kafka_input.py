"""`gp-celery run` with a Kafka input: the mock cluster lives in this test process and the
run connects to its brokers over loopback like to any Kafka."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.e2e.conftest import gp
from tests.modules.kafka_cluster import MockCluster, mock_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[MockCluster]:
    with mock_cluster() as running:
        yield running


def run_kafka(tmp_path: Path, cluster: MockCluster, topic: str, count: int) -> list[str]:
    """One embedded run that reads ``count`` messages and ends; the data it printed."""
    config = tmp_path / "kafka.yml"
    config.write_text(
        f"""- Kafka:
   brokers: {cluster.bootstrap}
   topics: [{topic}]
   group_id: e2e
   auto_offset_reset: smallest
   messages_to_read: {count}
   consumer_settings: {{group.protocol: consumer}}
- StdOutSink:
   json_lines: true
"""
    )
    result = gp("run", "-c", str(config), timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    return [orjson.loads(line)["data"] for line in result.stdout.splitlines()]


def test_run_reads_a_topic_and_a_second_run_resumes_after_it(
    tmp_path: Path, cluster: MockCluster
) -> None:
    cluster.produce("e2e", [b"first %d" % number for number in range(50)])
    assert run_kafka(tmp_path, cluster, "e2e", 50) == [f"first {n}" for n in range(50)]
    cluster.produce("e2e", [b"second %d" % number for number in range(5)])
    assert run_kafka(tmp_path, cluster, "e2e", 5) == [f"second {n}" for n in range(5)]
