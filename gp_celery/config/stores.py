"""Options that name a store node by id (``redis_store``, Throttle's ``backend``): each must
name a RedisStore, KeyValueStore or Cache node, whose options it is then handed, so a
process that never builds the store node (a worker: a store is in no stage) opens the same
store."""

from __future__ import annotations

from gp_celery.config.nodes import NodeSpec
from gp_celery.config.problems import Problem, did_you_mean
from gp_celery.modules.key_values import StoreOptions, StoreRef


def link_stores(nodes: list[NodeSpec], file: str) -> list[Problem]:
    """Hand every StoreRef in the nodes' options its store's options; unknown ids and
    nodes that are no store are problems."""
    by_id = {node.id: node for node in nodes}
    stores = sorted(node.id for node in nodes if isinstance(node.options, StoreOptions))
    problems = []
    for node in nodes:
        options = node.options
        if options is None:
            continue
        for name in type(options).model_fields:
            ref = getattr(options, name, None)
            if not isinstance(ref, StoreRef):  # unset, or not validated (a listener's)
                continue
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
