"""Options that name a store node by id (``redis_store``, Throttle's ``backend``): each must
name a RedisStore, KeyValueStore or Cache node, whose options it is then handed, so a
process that never builds the store node (a worker: a store is in no stage) opens the same
store. The store's options count in the digest of every stage that uses it."""

from __future__ import annotations

from typing import Any, get_args

from gp_celery.config.nodes import NodeSpec
from gp_celery.config.problems import Problem, did_you_mean
from gp_celery.config.stages import Fingerprints
from gp_celery.modules.key_values import StoreOptions, StoreRef


def link_stores(nodes: list[NodeSpec], file: str) -> list[Problem]:
    """Hand every StoreRef in the nodes' options its store's options; unknown ids and
    nodes that are no store are problems."""
    by_id = {node.id: node for node in nodes}
    stores = sorted(node.id for node in nodes if isinstance(node.options, StoreOptions))
    problems = []
    for node in nodes:
        for name, ref in _refs(node):  # unset or not validated (a listener's): not there
            target = by_id.get(ref.node_id)
            if target is None:
                hint = did_you_mean(ref.node_id, stores) or (
                    f" (stores here: {', '.join(stores)})" if stores else ""
                )
                message = f"unknown store '{ref.node_id}'{hint}"
            elif isinstance(target.options, StoreOptions):
                ref.settings = target.options
                continue
            elif target.module is not None and target.options is None:
                continue  # its own options are wrong, and reported
            else:
                message = (
                    f"'{ref.node_id}' is a {target.type_name}, not a store "
                    "(RedisStore, KeyValueStore or Cache)"
                )
            problems.append(Problem(file, node.line, node.label, name, message))
    return problems


def _refs(node: NodeSpec) -> list[tuple[str, StoreRef]]:
    options = node.options
    if options is None:
        return []
    found = ((name, getattr(options, name, None)) for name in type(options).model_fields)
    return [(name, ref) for name, ref in found if isinstance(ref, StoreRef)]


def _names_a_store(annotation: Any) -> bool:
    """Is ``annotation`` StoreId, or a union (Optional) holding it?"""
    return annotation is StoreRef or any(_names_a_store(arg) for arg in get_args(annotation))


def _named_stores(node: NodeSpec) -> list[tuple[str, str]]:
    """(option, store id) for every store option set, validated or not (a listener leaves
    a worker's options as written), so that every role computes the same digests."""
    options = node.options
    if options is None:
        return []
    found = []
    for name, info in type(options).model_fields.items():
        if not _names_a_store(info.annotation):
            continue
        value = getattr(options, name, None)
        if isinstance(value, (StoreRef, str)) and str(value):
            found.append((name, str(value)))
    return found


def add_store_prints(nodes: list[NodeSpec], prints: Fingerprints) -> None:
    """Make a store's options part of the fingerprint of each node naming it, so workers
    whose stores differ (another server, db) refuse each other's batches."""
    for node in nodes:
        for name, store_id in _named_stores(node):
            store = prints.get(store_id)
            if store is not None and node.id in prints:
                for key, value in store.items():
                    prints[node.id][f"{name}.{key}"] = value
