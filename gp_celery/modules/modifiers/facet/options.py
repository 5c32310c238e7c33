"""Facet's options."""

from __future__ import annotations

from pydantic import Field

from gp_celery.modules.base import Options
from gp_celery.modules.key_values import StoreId
from gp_celery.modules.types import FieldName, Template


class FacetOptions(Options):
    source_field: FieldName
    """The field whose distinct values are collected."""
    group_by: Template
    """The group a value belongs to, e.g. '$(remote_ip)' (an event whose group renders
    empty or refers to a missing field is not counted)."""
    add_event_fields: list[FieldName] = []
    """Fields copied, per value, from the first event that brought the value."""
    interval: float = Field(default=5, gt=0, le=86_400)
    """Seconds per summary; intervals are aligned to the wall clock."""
    redis_store: StoreId | None = None
    """Id of a RedisStore node to keep the facets in (even in embedded mode); unset: a
    fleet shares facets through its own Redis."""
    redis_ttl: int = Field(default=60, ge=1)
    """Seconds the fleet's facet keys live in Redis at least (longer for long intervals)."""
    max_groups: int = Field(default=10_000, ge=1)
    """Most groups per interval (per process in a fleet); an event of another group is
    tagged and not counted."""
    max_values_per_group: int = Field(default=1_000, ge=1)
    """Most distinct values per group and interval; an event with another value is tagged
    and not counted."""
