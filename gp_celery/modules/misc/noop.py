"""Noop: pass events on unchanged (LumberMill's misc.Noop)."""

from __future__ import annotations

from gp_celery.modules.base import Example, Misc, NoOptions
from gp_celery.modules.registry import register


@register
class Noop(Misc[NoOptions]):
    """Pass events on unchanged; for a filter, add_fields or a receiver fork alone.

    The node keys (``filter``, ``add_fields``, ``delete_fields``, ``event_type``,
    ``receivers``) still apply, which is what LumberMill users put it in a config for.
    """

    aliases = ("misc.Noop",)
    examples = [
        Example(
            options={"add_fields": {"seen_by": "noop"}},
            given=[{"data": "spam"}],
            expect=[{"data": "spam", "seen_by": "noop"}],
            note="The module does nothing; the node key add_fields does the work.",
        ),
    ]
