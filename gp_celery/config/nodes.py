"""One config entry -> a NodeSpec: module class, validated options and the node keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from gp_celery import expressions
from gp_celery.config.locate import Locator
from gp_celery.config.node_keys import LEGACY_KEYS, NODE_KEYS, NodeKeys, Receiver
from gp_celery.config.problems import Problem, did_you_mean
from gp_celery.config.source import Path, Source
from gp_celery.event import FieldPath
from gp_celery.modules import registry
from gp_celery.modules.base import Module, Options
from gp_celery.modules.planned import PLANNED, planned_name, planned_names

__all__ = ["LEGACY_KEYS", "NODE_KEYS", "NodeSpec", "ReceiverSpec", "build_node", "find_module"]

FAMILY_DIRECTORIES: Final = {
    "input": "input",
    "parser": "parser",
    "modifier": "modifier",
    "misc": "misc",
    "output": "sink",
    "cluster": "cluster",
    "plugin": "webserver",
    "webserver": "webserver",
}
"""LumberMill's module directories (the part before the dot) and our family names."""


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
    """(key, value): a value is a template when written as a string, else it keeps its
    YAML type (``Template.value`` returns it, a fresh copy for lists and maps)."""
    delete_fields: list[FieldPath] = field(default_factory=list)
    event_type: expressions.Template | None = None
    queue: str | None = None
    log_level: str | None = None
    """A key of config.global_options.LEVELS (lower case), or None for the global level."""
    planned_family: str = ""
    """For a module not built yet: its family, so the graph is wired as it will be."""
    name: str = ""
    """The module name as written (``misc.SimpleStats``); the implicit id is made from it."""
    warnings: list[Problem] = field(default_factory=list)
    """What the module says deserves a warning in its valid options (``option_warnings``);
    each message starts with 'warning: '."""

    @property
    def family(self) -> str:
        return self.module.family if self.module else self.planned_family

    @property
    def label(self) -> str:
        if self.id in ("", self.type_name, self.name):
            return self.type_name
        return f"{self.type_name} '{self.id}'"


def find_module(name: str) -> tuple[type[Module[Any]] | None, str | None]:
    """(module class, None) or (None, planned YAML name) for a name as written; (None, None)
    for an unknown one.

    Beside YAML names and registered aliases, LumberMill's ``directory.Name`` is accepted with
    any name of the module (``parser.RegexParser``, as LumberMill's README writes it), when
    the directory is the module's family.
    """
    cls = registry.lookup(name)
    planned = planned_name(name) if cls is None else None
    if cls is not None or planned is not None:
        return cls, planned
    directory, dot, rest = name.partition(".")
    family = FAMILY_DIRECTORIES.get(directory)
    if not dot or family is None or not rest:
        return None, None
    cls = registry.lookup(rest)
    if cls is not None:
        return (cls, None) if cls.family == family else (None, None)
    planned = planned_name(rest)
    if planned is not None and PLANNED[planned][0] == family:
        return None, planned
    return None, None


def _unknown_module(name: str) -> str:
    directory, _dot, rest = name.partition(".")
    cls, planned = find_module(rest) if directory in FAMILY_DIRECTORIES else (None, None)
    family = cls.family if cls is not None else PLANNED[planned][0] if planned else None
    if family is not None:
        right = next(key for key, value in FAMILY_DIRECTORIES.items() if value == family)
        return f"unknown module '{name}': {rest} is a {family} (did you mean '{right}.{rest}'?)"
    choices = [*registry.all_names(), *planned_names()]
    return f"unknown module '{name}'{did_you_mean(name, choices)}"


def _validate_options(
    cls: type[Module[Any]], options: dict[str, Any], locator: Locator
) -> tuple[Options | None, list[Problem]]:
    try:
        return cls.options_model.model_validate(options), []
    except ValidationError as error:
        return None, locator.problems(error, cls.options_model, NODE_KEYS)


def _node_keys(keys: dict[str, Any], locator: Locator) -> tuple[NodeKeys, list[Problem]]:
    """The keys that validate; the problems of the others. A key that fails is left out, so
    one bad key does not cause follow-up problems (a failed ``receivers`` wires nothing)."""
    try:
        return NodeKeys.model_validate(keys), []
    except ValidationError as error:
        problems = locator.problems(error, NodeKeys, option_depth=1)
        failed = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
        good = {key: value for key, value in keys.items() if key not in failed}
        if "receivers" in failed:
            good["receivers"] = []
        return NodeKeys.model_validate(good), problems


def _receiver_spec(receiver: Receiver, source: Source, path: Path) -> ReceiverSpec:
    return ReceiverSpec(receiver.target, receiver.filter, source.line(path))


def _apply(spec: NodeSpec, keys: NodeKeys, source: Source, path: Path) -> None:
    spec.explicit_id = keys.id
    spec.filter = keys.filter
    if keys.receivers is not None:
        spec.receivers = [
            _receiver_spec(receiver, source, (*path, "receivers", index))
            for index, receiver in enumerate(keys.receivers)
        ]
    spec.add_fields = list(keys.add_fields.items())
    spec.delete_fields = list(keys.delete_fields)
    spec.event_type = keys.event_type
    spec.queue = keys.queue
    spec.log_level = keys.log_level


def build_node(
    index: int,
    type_name: str,
    settings: dict[str, Any],
    source: Source,
    path: Path,
    *,
    skip_options: bool = False,
) -> tuple[NodeSpec, list[Problem]]:
    """Validate one entry. Unknown names and options are problems; a module that is not
    built yet keeps its node keys (so receivers resolve) and skips option validation.

    ``skip_options``: this process never builds the module (a worker never builds an input,
    a listener nothing else), so its options are kept as written, unvalidated, and a
    setting only other hosts have, such as ``port: ${GP_TCP_PORT}``, cannot stop it."""
    cls, planned = find_module(type_name)
    spec = NodeSpec(index, source.line(path[:1]), type_name, cls, None, name=type_name)
    if cls is not None:
        spec.type_name = cls.name
    elif planned is not None:
        spec.type_name = planned
        spec.planned_family = PLANNED[planned][0]
    # A legacy key that the module declares (XPathParser's redis_store) is its option, and
    # so is a node key it claims (SQS's queue).
    declared = cls.options_model.model_fields if cls is not None else {}
    claimed = cls.own_node_keys if cls is not None else frozenset()
    keys = {
        key: value
        for key, value in settings.items()
        if (key in NODE_KEYS and key not in claimed) or (key in LEGACY_KEYS and key not in declared)
    }
    options = {key: value for key, value in settings.items() if key not in keys}
    label = type_name
    if isinstance(keys.get("id"), str) and keys["id"]:
        label = f"{type_name} '{keys['id']}'"
    locator = Locator(source, path, label, settings)
    problems: list[Problem] = []
    if cls is None and planned is None:
        problems.append(locator.problem("", _unknown_module(type_name)))
    elif cls is not None and skip_options:
        spec.options = cls.options_model.model_construct(**options)
    elif cls is not None:
        spec.options, problems = _validate_options(cls, options, locator)
        if spec.options is not None:
            spec.warnings = [
                locator.problem(str(warning.path[0]), f"warning: {warning.message}", warning.path)
                for warning in cls.option_warnings(spec.options)
            ]
    node_keys, found = _node_keys(keys, locator)
    _apply(spec, node_keys, source, path)
    return spec, problems + found
