"""The pipeline as boxes and arrows: layers by longest path from the inputs, so every arrow
points right, and a stage's nodes share a colour band."""

from __future__ import annotations

from typing import Any, Final

from gp_celery.config import PipelineConfig
from gp_celery.config.stages import DEFAULT_QUEUE

COLUMN: Final = 230
ROW: Final = 90
BOX_WIDTH: Final = 180
BOX_HEIGHT: Final = 56


def graph_of(config: PipelineConfig) -> dict[str, Any]:
    """Nodes with positions, edges with their filters, and the size of the drawing."""
    depth: dict[str, int] = {}
    for spec in config.order:  # topological: every sender is placed before its receivers
        depth.setdefault(spec.id, 0)
        for receiver in spec.receivers or []:
            depth[receiver.target] = max(depth.get(receiver.target, 0), depth[spec.id] + 1)
    rows: dict[int, int] = {}
    nodes = []
    for spec in config.order:
        column = depth[spec.id]
        row = rows.get(column, 0)
        rows[column] = row + 1
        stages = config.stages.get(spec.id) or ()
        nodes.append(
            {
                "id": spec.id,
                "type": spec.type_name,
                "family": spec.family,
                "stage": ", ".join(stages) if spec.family != "input" else "listener",
                "filter": spec.filter.source if spec.filter else "",
                "x": 20 + column * COLUMN,
                "y": 20 + row * ROW,
            }
        )
    edges = [
        {
            "from": spec.id,
            "to": receiver.target,
            "filter": receiver.filter.source if receiver.filter else "",
        }
        for spec in config.order
        for receiver in spec.receivers or []
    ]
    return {
        "file": config.file,
        "nodes": nodes,
        "edges": edges,
        "box": {"width": BOX_WIDTH, "height": BOX_HEIGHT},
        "width": 40 + (max(depth.values(), default=0) + 1) * COLUMN,
        "height": 40 + max(rows.values(), default=1) * ROW,
        "stages": sorted({DEFAULT_QUEUE, *(spec.queue for spec in config.nodes if spec.queue)}),
        "digests": config.digests,
    }
