"""Math: compute an arithmetic expression over an event's fields, compiled once at load."""

from __future__ import annotations

import math
from typing import Any

from pydantic import model_validator

from gp_celery.event import Batch, Event, field_path
from gp_celery.expressions import EvaluationError
from gp_celery.modules.base import Example, Modifier, Options
from gp_celery.modules.registry import register
from gp_celery.modules.types import Expression, FieldName


class MathOptions(Options):
    function: Expression
    """The arithmetic expression, e.g. 'float($(request_time)) * 1000'."""
    target_field: FieldName | None = None
    """Where the result goes (needed: without it the result would go nowhere)."""
    interval: float | None = None
    """GambolPutty's aggregation period; not supported, must stay unset."""
    results_function: str | None = None
    """GambolPutty's aggregate over 'interval'; not supported, must stay unset."""

    @model_validator(mode="after")
    def _consistent(self) -> MathOptions:
        if self.interval is not None or self.results_function is not None:
            raise ValueError(
                "'interval' and 'results_function' are not supported: aggregate the per-event "
                "results where they are stored (e.g. Elasticsearch), or count values with Facet"
            )
        if self.target_field is None:
            raise ValueError("'target_field' is needed: without it the result goes nowhere")
        return self


def _number(result: Any) -> str | None:
    """Why a result is not a usable number, or None when it is one."""
    if isinstance(result, bool) or not isinstance(result, (int, float)):
        return f"the result is a {type(result).__name__}, not a number"
    if isinstance(result, float) and not math.isfinite(result):
        return f"the result is {result} (overflow or an undefined operation)"
    return None


@register
class Math(Modifier[MathOptions]):
    """Compute an arithmetic expression over fields and write it to target_field.

    The expression uses the safe expression language of filters (no ``eval``): numbers,
    ``$(field)`` references, ``+ - * / // % **``, parentheses and the calls ``int``,
    ``float``, ``round``, ``abs``, ``min``, ``max``, ``sum``, ``len`` (and ``str``, ``lower``
    and the like, though the result must be a number). It is compiled once, at load, so a
    syntax error is reported by ``gp-celery check`` with its line and column.

    An event for which the expression fails is tagged and goes on unchanged: a missing
    field, text that is no number (``float('-')``), division by zero, a result that is not a
    number (``$(x) * 2`` on text), or one that overflows (infinity, NaN, a power too large).

    Differences from GambolPutty, which ``eval``'d the expression: a missing field is an
    error here (GambolPutty read it as False, i.e. 0); a failed event is tagged (GambolPutty
    wrote the previous event's result); ``target_field`` is required (without it
    GambolPutty computed and threw the result away). ``interval``/``results_function``
    (aggregating results over time into new events) are refused at load: a fleet computes
    in many processes, so the aggregate would be per process; aggregate where the results
    are stored instead.
    """

    aliases = ("modifier.Math",)
    examples = [
        Example(
            options={
                "filter": 'if $(server_type) == "nginx"',
                "target_field": "request_time",
                "function": "float($(request_time)) * 1000",
            },
            given=[
                {"server_type": "nginx", "request_time": "0.25"},
                {"server_type": "apache", "request_time": "250000"},
            ],
            expect=[
                {"server_type": "nginx", "request_time": 250.0},
                {"server_type": "apache", "request_time": "250000"},
            ],
            note="The seed README's example: nginx's seconds become milliseconds.",
        ),
        Example(
            options={"function": "int($(cache_hits)) * 2", "target_field": "test"},
            given=[{"cache_hits": 5}],
            expect=[{"cache_hits": 5, "test": 10}],
        ),
    ]

    def setup(self) -> None:
        self._function = self.options.function
        target = self.options.target_field
        assert target is not None  # the options' validator demands it
        self._target = field_path(target)

    def process(self, events: Batch) -> Batch:
        for event in events:
            self._compute(event)
        return events

    def _compute(self, event: Event) -> None:
        try:
            result = self._function(event)
        except EvaluationError as error:
            self.fail(event, f"function failed: {error}")
            return
        except RecursionError:  # an absurdly deep value; the expression itself is bounded
            self.fail(event, "function failed: a value is nested too deeply")
            return
        if problem := _number(result):
            self.fail(event, f"function failed: {problem}")
            return
        try:
            self._target.set(event, result)
        except (TypeError, ValueError, IndexError) as error:
            self.fail(event, f"cannot set {self._target.dotted!r}: {error}")
