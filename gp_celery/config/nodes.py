"""One config entry -> a NodeSpec: module class, validated options and the node keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from gp_celery import expressions
from gp_celery.config.problems import Problem, did_you_mean, shorten
from gp_celery.config.source import Path, Source
from gp_celery.event import FieldPath
from gp_celery.modules import registry
from gp_celery.modules.base import Module, Options
from gp_celery.modules.planned import PLANNED, planned_name

NODE_KEYS = (
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

LEGACY_KEYS = (
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
"""GambolPutty keys that are accepted and ignored (spec/CORE.md 1.3)."""


@dataclass
class ReceiverSpec:
    target: str
    filter: expressions.Filter | None
    line: int


@dataclass
class NodeSpec:
    """A validated config entry. ``module`` is None for a module that is not built yet."""

    index: int
    line: int
    type_name: str
    module: type[Module[Any]] | None
    options: Options | None
    explicit_id: str | None = None
    id: str = ""
    filter: expressions.Filter | None = None
    receivers: list[ReceiverSpec] | None = None
    add_fields: list[tuple[expressions.Template, expressions.Template]] = field(
        default_factory=list
    )
    delete_fields: list[FieldPath] = field(default_factory=list)
    event_type: expressions.Template | None = None
    queue: str | None = None
    log_level: str | None = None
    planned_family: str = ""
    """For a module not built yet: its family, so the graph is wired as it will be."""

    @property
    def family(self) -> str:
        return self.module.family if self.module else self.planned_family

    @property
    def label(self) -> str:
        if self.id in ("", self.type_name):
            return self.type_name
        return f"{self.type_name} '{self.id}'"


class _Collector:
    """Problems for one entry, located by their path in the YAML."""

    def __init__(self, source: Source, path: Path, label: str) -> None:
        self.source, self.path, self.label = source, path, label
        self.problems: list[Problem] = []

    def add(self, option: str, message: str, sub: Path = ()) -> None:
        line = self.source.line((*self.path, *sub))
        self.problems.append(Problem(self.source.file, line, self.label, option, message))


def _pydantic_message(error: Any, fields: list[str]) -> str:
    kind, message = str(error["type"]), str(error["msg"])
    if kind == "extra_forbidden":
        name = str(error["loc"][0])
        return f"unknown option '{name}'{did_you_mean(name, fields)}"
    if kind == "missing":
        return "missing required option"
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if "input" in error and kind not in ("value_error", "assertion_error"):
        message += f", got {shorten(error['input'])}"
    return message


def _validate_options(
    cls: type[Module[Any]], options: dict[str, Any], found: _Collector
) -> Options | None:
    try:
        return cls.options_model.model_validate(options)
    except ValidationError as error:
        fields = list(cls.options_model.model_fields)
        for item in error.errors():
            loc = tuple(item["loc"])
            option = ".".join(str(part) for part in loc) if loc else ""
            sub = (str(loc[0]), *loc[1:]) if loc else ()
            found.add(option, _pydantic_message(item, fields), sub)
        return None


def _compile(kind: str, text: Any, option: str, found: _Collector, sub: Path = ()) -> Any:
    if not isinstance(text, str):
        if kind == "template" and isinstance(text, (int, float, bool)):
            text = str(text)
        else:
            found.add(option, f"expected a string, got {shorten(text)}", sub)
            return None
    compile_ = expressions.compile_filter if kind == "filter" else expressions.compile_template
    try:
        return compile_(text)
    except expressions.ExpressionError as error:
        found.add(option, f"bad {kind}: {error}", sub)
        return None


def _receivers(value: Any, found: _Collector) -> list[ReceiverSpec] | None:
    if not isinstance(value, list):
        found.add("receivers", f"expected a list of module names or ids, got {shorten(value)}")
        return None
    receivers = []
    for index, item in enumerate(value):
        sub: Path = ("receivers", index)
        line = found.source.line((*found.path, *sub))
        if isinstance(item, str):
            receivers.append(ReceiverSpec(item, None, line))
        elif isinstance(item, dict) and len(item) == 1:
            ((target, settings),) = item.items()
            settings = settings or {}
            if not isinstance(settings, dict) or set(settings) - {"filter"}:
                found.add("receivers", f"receiver '{target}' takes only a 'filter'", sub)
                continue
            flt = settings.get("filter")
            compiled = _compile("filter", flt, "receivers", found, (*sub, str(target)))
            if flt is None or compiled is not None:
                receivers.append(ReceiverSpec(str(target), compiled, line))
        else:
            found.add(
                "receivers",
                f"expected a name or {{name: {{filter: ...}}}}, got {shorten(item)}",
                sub,
            )
    return receivers


def _node_keys(spec: NodeSpec, keys: dict[str, Any], found: _Collector) -> None:
    if "id" in keys:
        if isinstance(keys["id"], str) and keys["id"]:
            spec.explicit_id = keys["id"]
        else:
            found.add("id", f"expected a non-empty string, got {shorten(keys['id'])}", ("id",))
    if "filter" in keys and keys["filter"] is not None:
        spec.filter = _compile("filter", keys["filter"], "filter", found, ("filter",))
    if "receivers" in keys:
        spec.receivers = _receivers(keys["receivers"], found)
    _add_fields(spec, keys.get("add_fields") or {}, found)
    _delete_fields(spec, keys.get("delete_fields") or [], found)
    if keys.get("event_type") is not None:
        spec.event_type = _compile(
            "template", keys["event_type"], "event_type", found, ("event_type",)
        )
    for name in ("queue", "log_level"):
        if keys.get(name) is not None:
            if isinstance(keys[name], str):
                setattr(spec, name, keys[name])
            else:
                found.add(name, f"expected a string, got {shorten(keys[name])}", (name,))


def _add_fields(spec: NodeSpec, value: Any, found: _Collector) -> None:
    if not isinstance(value, dict):
        found.add("add_fields", f"expected a map, got {shorten(value)}", ("add_fields",))
        return
    for name, template in value.items():
        key_t = _compile("template", str(name), "add_fields", found, ("add_fields",))
        value_t = _compile("template", template, "add_fields", found, ("add_fields", str(name)))
        if key_t is not None and value_t is not None:
            spec.add_fields.append((key_t, value_t))


def _delete_fields(spec: NodeSpec, value: Any, found: _Collector) -> None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        found.add(
            "delete_fields",
            f"expected a list of field names, got {shorten(value)}",
            ("delete_fields",),
        )
        return
    for name in value:
        try:
            spec.delete_fields.append(FieldPath(str(name)))
        except ValueError as error:
            found.add("delete_fields", str(error), ("delete_fields",))


def build_node(
    index: int, type_name: str, settings: dict[str, Any], source: Source, path: Path
) -> tuple[NodeSpec, list[Problem]]:
    """Validate one entry. Unknown names and options are problems; a module that is not
    built yet keeps its node keys (so receivers resolve) and skips option validation."""
    found = _Collector(source, path, type_name)
    cls = registry.lookup(type_name)
    spec = NodeSpec(index, source.line(path[:1]), type_name, cls, None)
    if cls is not None:
        spec.type_name = cls.name
    keys = {key: value for key, value in settings.items() if key in NODE_KEYS}
    options = {
        key: value
        for key, value in settings.items()
        if key not in NODE_KEYS and key not in LEGACY_KEYS
    }
    if isinstance(keys.get("id"), str):
        found.label = f"{type_name} '{keys['id']}'"
    planned = planned_name(type_name) if cls is None else None
    if planned is not None:
        spec.planned_family = PLANNED[planned][0]
    if cls is None and planned is None:
        choices = [*registry.all_names()]
        found.add("", f"unknown module '{type_name}'{did_you_mean(type_name, choices)}")
    elif cls is not None:
        spec.options = _validate_options(cls, options, found)
    _node_keys(spec, keys, found)
    return spec, found.problems
