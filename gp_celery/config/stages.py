"""Stages: which Celery queue each node runs on, what each stage's digest is, and whether a
fleet could split a module's state.

By default every node after the inputs forms one stage (one task per chunk). A node with
``queue: NAME`` starts a stage of its own; a node without one runs in the stage(s) of the
nodes that send to it. An input runs in a listener, but its chunks are turned into events
in the stage it feeds, so it counts as a member of that stage.

A stage's digest covers what a worker of that stage runs: its nodes' types, options and
node keys *as written* (before ``${VAR}`` expansion, so host settings such as a password or
a port differ freely between hosts), and of its inputs only the node keys (their transport
options never reach a worker). Every task carries the digest of the stage it was made for.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Final

import orjson

from gp_celery.config.problems import Problem

if TYPE_CHECKING:
    from gp_celery.config import NodeSpec, PipelineConfig

DEFAULT_QUEUE: Final = "gp-celery"
"""The queue of the first stage, and of every node without its own ``queue``."""

INPUT_KEYS: Final = ("receivers", "filter", "add_fields", "delete_fields", "event_type", "queue")
"""What of an input's entry reaches a worker (its transport options never do)."""

Fingerprints = dict[str, dict[str, str]]
"""Node id -> option (or 'type') -> short hash of its value as written."""


def node_stages(nodes: list[NodeSpec], order: list[NodeSpec]) -> dict[str, tuple[str, ...]]:
    """THE answer to "which stage does a node belong to": node id -> the queues of the
    stages it runs in (one, unless several stages send to a node without its own queue)."""
    by_id = {node.id: node for node in nodes}
    stages: dict[str, set[str]] = {node.id: set() for node in nodes}
    for node in order:  # senders come first
        if node.queue:
            stages[node.id] = {node.queue}
        elif node.family == "input":
            stages[node.id] = {DEFAULT_QUEUE}
        for receiver in node.receivers or []:
            target = by_id.get(receiver.target)
            if target is not None and not target.queue:
                stages[target.id] |= stages[node.id]
    return {node_id: tuple(sorted(found)) for node_id, found in stages.items()}


def digest_of(value: Any) -> str:
    """sha256 of the canonical JSON of ``value``."""
    options = orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS
    return hashlib.sha256(orjson.dumps(value, default=str, option=options)).hexdigest()


def _short_hash(value: Any) -> str:
    return digest_of(value)[:16]


def fingerprints(nodes: list[NodeSpec], raw_entries: list[Any]) -> Fingerprints:
    """Per node and option, a hash of the entry as written (``raw_entries``: the config's
    module entries before environment expansion, in file order, Global left out)."""
    found: Fingerprints = {}
    for node, entry in zip(nodes, raw_entries, strict=True):
        settings = next(iter(entry.values())) if isinstance(entry, dict) else None
        settings = settings if isinstance(settings, dict) else {}
        if node.family == "input":
            settings = {key: value for key, value in settings.items() if key in INPUT_KEYS}
        prints = {"type": node.type_name}
        prints.update({str(key): _short_hash(value) for key, value in settings.items()})
        found[node.id] = prints
    return found


def stage_digests(stages: dict[str, tuple[str, ...]], prints: Fingerprints) -> dict[str, str]:
    """Queue -> the digest of what a worker of that stage runs."""
    members: dict[str, dict[str, dict[str, str]]] = {}
    for node_id, queues in stages.items():
        for queue in queues:
            members.setdefault(queue, {})[node_id] = prints[node_id]
    return {queue: digest_of(nodes) for queue, nodes in sorted(members.items())}


def differences(mine: Fingerprints, theirs: Fingerprints, node_ids: list[str]) -> list[str]:
    """What differs between two configs' stages, node by node and option by option."""
    found = []
    for node_id in sorted(set(node_ids) | set(theirs)):
        here, there = mine.get(node_id), theirs.get(node_id)
        if here is None:
            found.append(f"node '{node_id}' is only in the chunk's config")
        elif there is None:
            found.append(f"node '{node_id}' is only in this worker's config")
        elif here.get("type") != there.get("type"):
            kinds = f"a {there.get('type')} there, {here.get('type')} here"
            found.append(f"node '{node_id}' is {kinds}")
        else:
            keys = set(here) | set(there)
            options = sorted(key for key in keys if here.get(key) != there.get(key))
            if options:
                found.append(f"node '{node_id}': {', '.join(options)} differ")
    return found


def split_state_problems(config: PipelineConfig) -> list[Problem]:
    """Nodes whose module keeps state that one process must see, placed where a fleet
    would spread their events over several processes, or hand them over out of order."""
    problems = []
    for node in config.nodes:
        module = node.module
        if module is None or node.options is None or module.state != "single":
            continue
        if not node.queue:
            problems.append(_problem(config, node, SPREAD))
        elif spread := _spread_senders(config, node):
            problems.append(_problem(config, node, out_of_order(node.queue, spread)))
    return problems


SPREAD: Final = (
    "keeps state that must see every event in one process, and a fleet would "
    "spread its events over many: give it a queue of its own (queue: NAME) and "
    "serve that queue with one worker process (celery -A gp_celery worker "
    "-Q NAME --concurrency 1); `gp-celery run` does that by itself"
)


def out_of_order(queue: str, spread: list[str]) -> str:
    return (
        f"keeps state that must see its stream in order, and {', '.join(spread)} before it "
        "run in stages that many processes serve, so its events could arrive out of order "
        f"(a multi-line event cut apart): give its input(s) and every node before it "
        f"queue: {queue} too, so the one process of that queue also cuts the stream"
    )


def _spread_senders(config: PipelineConfig, node: NodeSpec) -> list[str]:
    """The nodes sending (directly or not) to ``node`` that run in another stage: those
    stages' processes hand events on in whatever order they finish."""
    senders: dict[str, list[str]] = {}
    for sender in config.nodes:
        for receiver in sender.receivers or []:
            senders.setdefault(receiver.target, []).append(sender.id)
    found, waiting, seen = set(), [node.id], {node.id}
    while waiting:
        for sender_id in senders.get(waiting.pop(), []):
            if sender_id in seen:
                continue
            seen.add(sender_id)
            waiting.append(sender_id)
            if config.stages.get(sender_id, ()) != (node.queue,):
                found.add(config.node(sender_id).label)
    return sorted(found)


def _problem(config: PipelineConfig, node: NodeSpec, message: str) -> Problem:
    return Problem(config.file, node.line, node.label, "queue", message)
