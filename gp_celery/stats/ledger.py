"""``stats --reconcile``: does every event of a finished run add up?

Per node: ``events_in + made == events_out + dropped + dead_lettered``. Per group of inputs
that share downstream nodes: what came in, plus what modules made and routing copied,
equals what the ends wrote or finished, plus everything dropped by rule and dead-lettered,
plus what is still in flight (which must be nothing for a finished run).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from gp_celery.config import PipelineConfig

_Totals = Mapping[str, Counter[str]]


@dataclass
class Balance:
    """One group of inputs and everything downstream of them."""

    inputs: list[str]
    came_in: int = 0
    made: int = 0
    copies: int = 0
    ended: int = 0
    """Written by sinks, or finished at the end of a branch."""
    dropped: int = 0
    dead_lettered: int = 0

    @property
    def difference(self) -> int:
        """Events unaccounted for (negative: counted out more often than in)."""
        return (
            self.came_in
            + self.made
            + self.copies
            - self.ended
            - self.dropped
            - (self.dead_lettered)
        )

    def sentence(self) -> str:
        parts = f"in {self.came_in}"
        parts += f" + made {self.made}" if self.made else ""
        parts += f" + copies {self.copies}" if self.copies else ""
        return (
            f"{', '.join(self.inputs)}: {parts} = written/done {self.ended} + dropped "
            f"{self.dropped} + dead letters {self.dead_lettered}"
            + ("" if not self.difference else f"; {self.difference:+d} unaccounted for")
        )


@dataclass
class Reconciliation:
    balances: list[Balance]
    node_problems: list[str] = field(default_factory=list)
    in_flight: int = 0

    @property
    def ok(self) -> bool:
        return (
            not self.node_problems
            and not self.in_flight
            and all(balance.difference == 0 for balance in self.balances)
        )


def reconcile(config: PipelineConfig, nodes: _Totals, in_flight: int) -> Reconciliation:
    groups = _input_groups(config)
    result = Reconciliation([], in_flight=in_flight)
    for inputs, members in groups:
        balance = Balance(inputs)
        for node_id in members:
            counts = nodes.get(node_id, Counter())
            spec = config.node(node_id)
            if node_id in inputs:
                balance.came_in += counts["events_in"]
            if not spec.receivers:
                balance.ended += counts["events_out"]
            balance.made += counts["made"]
            balance.copies += counts["copies"]
            balance.dropped += counts["dropped"]
            balance.dead_lettered += counts["dead_lettered"]
            left = counts["events_in"] + counts["made"]
            right = counts["events_out"] + counts["dropped"] + counts["dead_lettered"]
            if left != right:
                result.node_problems.append(
                    f"{spec.label}: in {counts['events_in']} + made {counts['made']} != "
                    f"out {counts['events_out']} + dropped {counts['dropped']} + dead "
                    f"letters {counts['dead_lettered']}"
                )
        result.balances.append(balance)
    return result


def _input_groups(config: PipelineConfig) -> list[tuple[list[str], list[str]]]:
    """Inputs that reach a common node form one group, with every node they reach."""
    reach: dict[str, set[str]] = {}
    for spec in config.nodes:
        if spec.family == "input":
            reach[spec.id] = _downstream(config, spec.id)
    groups: list[tuple[list[str], set[str]]] = []
    for input_id, members in reach.items():
        joined = [group for group in groups if group[1] & members]
        inputs, union = [input_id], set(members)
        for group in joined:
            groups.remove(group)
            inputs = group[0] + inputs
            union |= group[1]
        groups.append((inputs, union))
    order = [spec.id for spec in config.order]
    return [(inputs, [n for n in order if n in members]) for inputs, members in groups]


def _downstream(config: PipelineConfig, start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for receiver in config.node(todo.pop()).receivers or []:
            if receiver.target not in seen:
                seen.add(receiver.target)
                todo.append(receiver.target)
    return seen
