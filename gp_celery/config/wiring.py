"""Ids, receivers and the graph's shape: default receivers, unknown targets, cycles."""

from __future__ import annotations

from collections.abc import Callable
from graphlib import CycleError, TopologicalSorter

from gp_celery.config.nodes import NodeSpec, ReceiverSpec
from gp_celery.config.problems import Problem, did_you_mean
from gp_celery.modules.planned import PLANNED


def assign_ids(nodes: list[NodeSpec], file: str) -> list[Problem]:
    """Explicit ids must be unique; implicit ones are the module name as written (as in
    GambolPutty and LumberMill: ``misc.SimpleStats`` is the id of ``- misc.SimpleStats``),
    then Name_1, Name_2 ... (no truncation at '_', unlike the original, which turned
    'my_parser' twice into 'my_1')."""
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
        written = node.name or node.type_name
        candidate, counter = written, 0
        while candidate in taken:
            counter += 1
            candidate = f"{written}_{counter}"
        taken[candidate] = node
        node.id = candidate
    return problems


def _other_names(node: NodeSpec) -> set[str]:
    """Names besides its id that find a node without an explicit id: its YAML name and
    every alias (``SimpleStats`` for ``- misc.SimpleStats``), with the id's counter."""
    if node.explicit_id is not None:
        return set()
    written = node.name or node.type_name
    suffix = node.id.removeprefix(written)
    names = {node.type_name, *(node.module.aliases if node.module else ())}
    if node.module is None and node.type_name in PLANNED:
        names.add(PLANNED[node.type_name][1])
    return {f"{name}{suffix}" for name in names} - {node.id}


def _resolver(nodes: list[NodeSpec]) -> Callable[[str], NodeSpec | list[NodeSpec] | None]:
    """Find a receiver by id; else by another name when exactly one node has it."""
    by_id = {node.id: node for node in nodes}
    by_name: dict[str, list[NodeSpec]] = {}
    for node in nodes:
        for name in _other_names(node):
            by_name.setdefault(name, []).append(node)

    def resolve(target: str) -> NodeSpec | list[NodeSpec] | None:
        found = by_id.get(target)
        if found is not None:
            return found
        named = by_name.get(target, [])
        return named[0] if len(named) == 1 else named or None

    return resolve


def _named_by_id(target: str, nodes: list[NodeSpec]) -> str:
    """A hint when ``target`` names the module of a node that has an explicit id."""
    for node in nodes:
        if node.explicit_id is not None and target in (node.name, node.type_name):
            return f" (the {node.type_name} on line {node.line} has the id '{node.id}')"
    return ""


STANDS_ALONE = (
    "a module that stands alone (other nodes use it by id) neither receives nor sends events"
)


def _stands_alone(node: NodeSpec) -> bool:
    return node.module is not None and node.module.stands_alone


def wire_receivers(nodes: list[NodeSpec], file: str) -> list[Problem]:
    """Resolve receivers; a node without them sends to the next entry in the file that
    does not stand alone (a RedisStore is used by id, never sent events).

    A receiver names a node by its id or, when only one node answers to it, by another of
    the node's names, and is rewritten to that node's id.
    """
    problems: list[Problem] = []
    by_id = {node.id: node for node in nodes}
    resolve = _resolver(nodes)
    known = sorted({*by_id, *(name for node in nodes for name in _other_names(node))})

    def problem(node: NodeSpec, line: int, message: str) -> None:
        problems.append(Problem(file, line, node.label, "receivers", message))

    for position, node in enumerate(nodes):
        if _stands_alone(node):
            if node.receivers:
                problem(node, node.receivers[0].line, STANDS_ALONE)
            node.receivers = []
            continue
        if node.family == "sink":
            if node.receivers:
                problem(
                    node, node.receivers[0].line, "a sink stores events and cannot have receivers"
                )
            node.receivers = []
            continue
        if node.receivers is None:
            following = next(
                (later for later in nodes[position + 1 :] if not _stands_alone(later)), None
            )
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
            target = resolve(receiver.target)
            if target is None:
                hint = _named_by_id(receiver.target, nodes) or did_you_mean(receiver.target, known)
                problem(node, receiver.line, f"unknown receiver '{receiver.target}'{hint}")
                continue
            if isinstance(target, list):
                ids = ", ".join(f"'{each.id}'" for each in target)
                message = f"receiver '{receiver.target}' could be any of {ids}; use the id"
                problem(node, receiver.line, message)
                continue
            receiver.target = target.id
            if refused := _refused_receiver(node, target):
                problem(node, receiver.line, refused)
    return problems


def _refused_receiver(node: NodeSpec, target: NodeSpec) -> str:
    """Why ``target`` cannot be a receiver of ``node``, or ''."""
    if _stands_alone(target):
        return (
            f"'{target.id}' is a {target.type_name}, which other nodes use by id; it "
            "cannot receive events"
        )
    if target.family == "input":
        return f"'{target.id}' is an input and cannot receive events"
    if target is node:
        return "a module cannot send to itself"
    return ""


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
