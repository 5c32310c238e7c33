"""Ids, receivers and the graph's shape: default receivers, unknown targets, cycles."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

from gp_celery.config.nodes import NodeSpec, ReceiverSpec
from gp_celery.config.problems import Problem, did_you_mean


def assign_ids(nodes: list[NodeSpec], file: str) -> list[Problem]:
    """Explicit ids must be unique; implicit ones are Name, Name_1, Name_2 ... (no
    truncation at '_', unlike GambolPutty, which turned 'my_parser' twice into 'my_1')."""
    problems = []
    taken: dict[str, NodeSpec] = {}
    for node in nodes:
        if node.explicit_id is None:
            continue
        node.id = node.explicit_id
        if node.explicit_id in taken:
            first = taken[node.explicit_id]
            problems.append(
                Problem(
                    file,
                    node.line,
                    node.label,
                    "id",
                    f"duplicate id '{node.explicit_id}' (first used on line {first.line})",
                )
            )
        taken.setdefault(node.explicit_id, node)
    for node in nodes:
        if node.explicit_id is not None:
            continue
        candidate, counter = node.type_name, 0
        while candidate in taken:
            counter += 1
            candidate = f"{node.type_name}_{counter}"
        taken[candidate] = node
        node.id = candidate
    return problems


def wire_receivers(nodes: list[NodeSpec], file: str) -> list[Problem]:
    """Resolve receivers; a node without them sends to the next entry in the file."""
    problems: list[Problem] = []
    by_id = {node.id: node for node in nodes}

    def problem(node: NodeSpec, line: int, message: str) -> None:
        problems.append(Problem(file, line, node.label, "receivers", message))

    for position, node in enumerate(nodes):
        if node.family == "sink":
            if node.receivers:
                problem(
                    node, node.receivers[0].line, "a sink stores events and cannot have receivers"
                )
            node.receivers = []
            continue
        if node.receivers is None:
            following = nodes[position + 1] if position + 1 < len(nodes) else None
            node.receivers = (
                [] if following is None else [ReceiverSpec(following.id, None, node.line)]
            )
            if following is not None and following.family == "input":
                problem(
                    node,
                    node.line,
                    f"the next entry, input '{following.id}', cannot "
                    "receive events; set 'receivers'",
                )
                node.receivers = []
            continue
        for receiver in node.receivers:
            target = by_id.get(receiver.target)
            if target is None:
                hint = did_you_mean(receiver.target, by_id)
                problem(node, receiver.line, f"unknown receiver '{receiver.target}'{hint}")
            elif target.family == "input":
                problem(
                    node,
                    receiver.line,
                    f"'{receiver.target}' is an input and cannot receive events",
                )
            elif target is node:
                problem(node, receiver.line, "a module cannot send to itself")
    return problems


def topological_order(nodes: list[NodeSpec], file: str) -> tuple[list[NodeSpec], list[Problem]]:
    """Nodes so that every node comes after all that send to it; a cycle is a problem."""
    by_id = {node.id: node for node in nodes}
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for node in nodes:
        sorter.add(node.id)
        for receiver in node.receivers or []:
            if receiver.target in by_id and receiver.target != node.id:
                sorter.add(receiver.target, node.id)
    try:
        sorter.prepare()
    except CycleError as error:
        cycle = error.args[1]
        first = min((by_id[name] for name in cycle), key=lambda spec: spec.line)
        path = " -> ".join(cycle)
        return nodes, [
            Problem(file, first.line, first.label, "receivers", f"receivers form a cycle: {path}")
        ]
    order: list[NodeSpec] = []
    while sorter.is_active():
        # File order among nodes that are ready together, so runs are reproducible.
        ready = sorted((by_id[name] for name in sorter.get_ready()), key=lambda s: s.index)
        order.extend(ready)
        sorter.done(*(spec.id for spec in ready))
    return order, []
