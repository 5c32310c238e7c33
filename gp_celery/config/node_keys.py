"""The keys every node accepts beside its module's options (spec/CORE.md 1.3), as one model.

They belong to the runner, not the module. Errors are located like any option's
(config/locate.py), so a bad filter names its line and column and a bad ``delete_fields``
entry its own line.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator

from gp_celery import expressions
from gp_celery.config.global_options import check_level
from gp_celery.config.problems import shorten
from gp_celery.event import FieldPath
from gp_celery.modules import types

NODE_KEYS: Final = (
    "id",
    "filter",
    "receivers",
    "add_fields",
    "delete_fields",
    "event_type",
    "log_level",
    "queue",
)
"""Keys every module accepts; they belong to the runner, not the module."""

LEGACY_KEYS: Final = (
    "module",
    "queue_size",
    "pool_size",
    "queue_buffer_size",
    "mp_queue_buffer_size",
    "redis_store",
    "redis_key",
    "redis_ttl",
    "set_internal",
)
"""GambolPutty and LumberMill keys that are accepted and ignored (spec/CORE.md 1.3), unless
the module declares one as its own option (XPathParser's, HttpRequest's and Facet's
``redis_store``/``redis_key``/``redis_ttl``: see config/nodes.py and config/stores.py)."""


def _field_path(value: Any) -> FieldPath:
    if isinstance(value, FieldPath):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a field name, got {shorten(value)}")
    return FieldPath(value)  # ValueError 'invalid field path' for '', 'a..b'


def _value(value: Any) -> expressions.Template:
    try:
        return expressions.compile_value(value)
    except expressions.ExpressionError as error:
        raise types.TextError("template", error) from None


def _receiver(value: Any) -> Any:
    """``Name`` or ``{Name: {filter: ...}}`` as the fields of a Receiver."""
    if isinstance(value, str):
        return {"target": value}
    if isinstance(value, dict) and len(value) == 1:
        ((target, settings),) = value.items()
        settings = {} if settings is None else settings
        if not isinstance(settings, dict):
            raise ValueError(f"receiver '{target}' takes {{filter: ...}}, got {shorten(settings)}")
        if "target" in settings:
            raise ValueError(f"receiver '{target}' takes only a 'filter'")
        return {**settings, "target": str(target)}
    raise ValueError(f"expected a name or {{name: {{filter: ...}}}}, got {shorten(value)}")


def _no_id(value: Any) -> Any:
    return None if value == "" else value  # LumberMill's default id was ''


def _level(value: str | None) -> str | None:
    return None if value is None else check_level(value)


def _listed(value: Any) -> Any:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


class _Keys(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Receiver(_Keys):
    """One entry of ``receivers``: a node name or id, with an optional output filter."""

    target: str
    filter: types.Filter | None = None
    """Output filter: only events for which it is true are sent to this receiver."""


FieldPathOption = Annotated[FieldPath, PlainValidator(_field_path)]
AddedValue = Annotated[expressions.Template, PlainValidator(_value)]


class NodeKeys(_Keys):
    """The node keys of one config entry, compiled."""

    id: Annotated[Annotated[str, Field(min_length=1)] | None, BeforeValidator(_no_id)] = None
    """Name of the node for receivers and logs; '' or unset: the module name as written."""
    filter: types.Filter | None = None
    """Input filter: events for which it is false bypass the module, unchanged."""
    receivers: list[Annotated[Receiver, BeforeValidator(_receiver)]] | None = None
    """Where the node sends its output; unset: the next entry in the file."""
    add_fields: Annotated[
        dict[types.Template, AddedValue], BeforeValidator(lambda v: {} if v is None else v)
    ] = {}
    """Fields set on handled events; keys are templates, string values too, other values
    keep their YAML type (strings inside lists and maps are rendered as text)."""
    delete_fields: Annotated[list[FieldPathOption], BeforeValidator(_listed)] = []
    """Fields removed from handled events."""
    event_type: types.Template | None = None
    """Sets gambolputty.event_type on handled events."""
    log_level: Annotated[str | None, AfterValidator(_level)] = None
    """This node's log level: debug, info, warn, error, critical or fatal (any case)."""
    queue: Annotated[str, Field(min_length=1)] | None = None
    """Celery queue of the stage this node starts; unset: the stage of its senders."""
    module: Any = None
    queue_size: Any = None
    pool_size: Any = None
    queue_buffer_size: Any = None
    mp_queue_buffer_size: Any = None
    redis_store: Any = None
    redis_key: Any = None
    redis_ttl: Any = None
    set_internal: Any = None
