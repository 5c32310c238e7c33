"""Every node's ledger and the run's balance: events in + made + copies = written or done
+ dropped + dead letters, with fan-out, filters, drops, a module that makes events and
one that makes more than it is given."""

from __future__ import annotations

import textwrap
import time
from collections import Counter
from pathlib import Path

from gp_celery.config import PipelineConfig, parse_config
from gp_celery.pipeline import Pipeline
from gp_celery.stats.ledger import reconcile

CONFIG = """
- Global:
    dead_letter_file: {dead}
- StdIn
- Permutate:
    source_field: pair
    target_fields: [first, second]
- DropEvent:
    filter: $(first) == 'c'
- SimpleStats:
    interval: 1
    emit_as_event: true
    receivers:
     - kept
     - copied:
         filter: $(first) == 'a'
- DevNullSink:
    id: kept
- DevNullSink:
    id: copied
    filter: $(second) != 'b'
"""


def config(tmp_path: Path) -> PipelineConfig:
    text = textwrap.dedent(CONFIG.format(dead=tmp_path / "dead.jsonl"))
    return parse_config(text.lstrip("\n"), "ledger.yml", {})


def totals(pipeline: Pipeline) -> dict[str, Counter[str]]:
    return {node: Counter(counts) for node, counts in pipeline.counters().items()}


def test_a_finished_embedded_run_balances_node_by_node_and_as_a_whole(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    pipeline = Pipeline(cfg)
    events = [{"data": str(n), "pair": ["a", "b", "c"]} for n in range(10)]  # 6 each
    events += [{"data": "no pair"}]  # Permutate passes it on unchanged
    start = time.monotonic()
    pipeline.tick(start)  # SimpleStats' interval starts
    pipeline.run_batch("StdIn", events)
    pipeline.tick(start + 5)  # and ends: it emits its report as events
    pipeline.tick(time.monotonic() + 5, final=True)
    counts = totals(pipeline)
    assert counts["Permutate"]["made"] == 10 * 6 - 10
    assert counts["DropEvent"]["dropped"] == 10 * 2  # permutations starting with c
    assert counts["SimpleStats"]["made"] >= 1
    assert counts["SimpleStats"]["copies"] > 0
    assert counts["copied"]["dropped"] > 0  # its own filter: 'second' == 'b' bypassed

    result = reconcile(cfg, counts, in_flight=0)
    assert result.node_problems == []
    [balance] = result.balances
    assert balance.came_in == 11
    assert balance.difference == 0
    assert result.ok


def test_an_event_counted_in_but_never_out_is_reported(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    pipeline = Pipeline(cfg)
    pipeline.run_batch("StdIn", [{"data": "x", "pair": ["a", "b"]}])
    counts = totals(pipeline)
    counts["kept"]["events_in"] += 1  # as if a sink had lost one without counting it
    result = reconcile(cfg, counts, in_flight=0)
    assert not result.ok
    assert result.node_problems == [
        "DevNullSink 'kept': in 3 + made 0 != out 2 + dropped 0 + dead letters 0"
    ]


def test_a_lost_event_between_nodes_shows_in_the_balance(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    pipeline = Pipeline(cfg)
    pipeline.run_batch("StdIn", [{"data": "x", "pair": ["a", "b"]}])
    counts = totals(pipeline)
    counts["StdIn"]["events_in"] += 1
    counts["StdIn"]["events_out"] += 1  # went on from StdIn, never arrived anywhere
    result = reconcile(cfg, counts, in_flight=0)
    [balance] = result.balances
    assert balance.difference == 1
    assert "+1 unaccounted for" in balance.sentence()
    assert not result.ok


def test_work_in_flight_means_not_finished(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    pipeline = Pipeline(cfg)
    pipeline.run_batch("StdIn", [{"data": "x"}])
    result = reconcile(cfg, totals(pipeline), in_flight=3)
    assert result.balances[0].difference == 0
    assert not result.ok


def test_inputs_that_share_nodes_are_balanced_together(tmp_path: Path) -> None:
    text = textwrap.dedent("""
        - StdIn:
            receivers: [shared]
        - Spam:
            id: spam
            receivers: [shared]
        - Spam:
            id: alone
            receivers: [own]
        - DevNullSink:
            id: shared
        - DevNullSink:
            id: own
        """)
    cfg = parse_config(text.lstrip("\n"), "groups.yml", {})
    groups = [balance.inputs for balance in reconcile(cfg, {}, 0).balances]
    assert sorted(groups) == [["StdIn", "spam"], ["alone"]]
