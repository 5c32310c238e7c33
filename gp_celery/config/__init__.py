"""YAML -> validated PipelineConfig; every problem reported at once as FILE:LINE: message.

GambolPutty's format: a list of single-key maps (or bare module names), one optional
``Global`` item, the node keys of spec/CORE.md 1.3 (config/node_keys.py). LumberMill's
``directory.Name`` module names are accepted as aliases (nodes.find_module). A node's implicit
id is its module name as written, and a receiver may name a node by any of its names when
that is unambiguous (wiring.py). Problems carry the user's line, and for filters the column
(locate.py, positions.py).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path as FilePath
from typing import Any, Literal

from pydantic import ValidationError

from gp_celery.config.global_options import GlobalOptions
from gp_celery.config.locate import Locator
from gp_celery.config.nodes import (
    LEGACY_KEYS,
    NODE_KEYS,
    NodeSpec,
    ReceiverSpec,
    build_node,
    find_module,
)
from gp_celery.config.plugins import import_plugins
from gp_celery.config.problems import ConfigError, Problem, shorten
from gp_celery.config.source import Path as SourcePath
from gp_celery.config.source import Source, YamlSyntaxError, expand_env, parse_yaml
from gp_celery.config.stages import (
    DEFAULT_QUEUE,
    Fingerprints,
    digest_of,
    fingerprints,
    node_stages,
    stage_digests,
)
from gp_celery.config.stores import add_store_prints, link_stores
from gp_celery.config.wiring import assign_ids, topological_order, wire_receivers

Role = Literal["all", "listener", "worker"]
"""Which part of a pipeline a process runs: everything (embedded, `check`), its inputs (a
listener) or the rest (a Celery worker)."""

__all__ = [
    "DEFAULT_QUEUE",
    "ConfigError",
    "GlobalOptions",
    "NodeSpec",
    "PipelineConfig",
    "Problem",
    "ReceiverSpec",
    "Role",
    "load_config",
    "parse_config",
]


@dataclass
class PipelineConfig:
    """A whole validated pipeline: nodes in file order and in topological order."""

    file: str
    settings: GlobalOptions
    nodes: list[NodeSpec]
    order: list[NodeSpec]
    digest: str
    """sha256 over every stage's digest: the whole pipeline's version."""
    stages: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Node id -> the queues of the stages it runs in (``stages.node_stages``)."""
    fingerprints: Fingerprints = field(default_factory=dict)
    """Node id -> option -> hash of its value as written: says what differs on a refusal."""
    digests: dict[str, str] = field(default_factory=dict)
    """Queue -> digest of that stage; every task carries the digest of its stage."""

    @property
    def warnings(self) -> list[Problem]:
        """Every node's warnings about valid options, sorted: `check` prints them and
        `run` logs them; they never fail a check."""
        return sorted(warning for node in self.nodes for warning in node.warnings)

    @property
    def planned(self) -> list[NodeSpec]:
        """Nodes whose module is not built yet."""
        return [node for node in self.nodes if node.module is None]

    def node(self, node_id: str) -> NodeSpec:
        return next(node for node in self.nodes if node.id == node_id)

    def queue_of(self, node_id: str) -> str:
        """The Celery queue a batch entering at this node is sent to."""
        return self.node(node_id).queue or DEFAULT_QUEUE

    @property
    def stage_queues(self) -> list[str]:
        """Every queue a stage of this pipeline runs on, the default included."""
        return sorted({DEFAULT_QUEUE, *(node.queue for node in self.nodes if node.queue)})

    def stage_members(self, queue: str) -> list[NodeSpec]:
        """The nodes a worker of ``queue``'s stage runs, in topological order."""
        return [node for node in self.order if queue in self.stages.get(node.id, ())]


def _global(
    value: Any, source: Source, path: tuple[str | int, ...]
) -> tuple[GlobalOptions, list[Problem]]:
    settings = value or {}
    try:
        return GlobalOptions.model_validate(settings), []
    except ValidationError as error:
        return GlobalOptions(), Locator(source, path, "Global", settings).problems(
            error, GlobalOptions
        )


def _entries(source: Source, role: Role) -> tuple[GlobalOptions, list[NodeSpec], list[Problem]]:
    problems: list[Problem] = []
    settings = GlobalOptions()
    nodes: list[NodeSpec] = []
    if not isinstance(source.data, list):
        kind = "an empty file" if source.data is None else type(source.data).__name__
        raise ConfigError(
            [
                Problem(
                    source.file,
                    1,
                    message=f"expected a list of modules (- ModuleName: {{options}}), got {kind}",
                )
            ]
        )
    seen_global = False
    for index, item in enumerate(source.data):
        settings_map: Any
        if isinstance(item, str):
            name, settings_map = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, settings_map = next(iter(item.items()))
            settings_map = {} if settings_map is None else settings_map
        else:
            problems.append(
                Problem(
                    source.file,
                    source.line((index,)),
                    message=f"expected '- ModuleName' or '- ModuleName: {{options}}', got "
                    f"{shorten(item)}",
                )
            )
            continue
        name = str(name)
        if not isinstance(settings_map, dict):
            problems.append(
                Problem(
                    source.file,
                    source.line((index,)),
                    name,
                    "",
                    f"options must be a map, got {shorten(settings_map)}",
                )
            )
            continue
        if name == "Global":
            if seen_global:
                problems.append(
                    Problem(
                        source.file,
                        source.line((index,)),
                        "Global",
                        "",
                        "only one Global section is allowed",
                    )
                )
            seen_global = True
            settings, found = _global(settings_map, source, (index, name))
            problems += found
            continue
        node, found = build_node(
            len(nodes),
            name,
            settings_map,
            source,
            (index, name),
            skip_options=_builds(role, name) is False,
        )
        nodes.append(node)
        problems += found
    return settings, nodes, problems


def parse_config(
    text: str,
    file: str = "<config>",
    environ: dict[str, str] | None = None,
    data: list[Any] | None = None,
    *,
    role: Role = "all",
) -> PipelineConfig:
    """Validate configuration text (or already-parsed ``data``); raise ConfigError listing
    every problem.

    ``role``: load it as a worker or a listener does. A worker never builds an input and a
    listener builds nothing else, so the options of the modules a role does not build (and
    the environment variables in them) are neither expanded nor validated; node keys
    always are. The stage digests are the same for every role."""
    if data is not None:
        source = Source(file, data)
    else:
        try:
            source = parse_yaml(text, file)
        except YamlSyntaxError as error:
            raise ConfigError([error.problem]) from None
    as_written = copy.deepcopy(source.data)
    problems = expand_env(source, environ, partial(_unused, role))
    unset_lines = {problem.line for problem in problems}
    problems += import_plugins(source)
    settings, nodes, found = _entries(source, role)
    problems += [problem for problem in found if problem.line not in unset_lines]
    problems += assign_ids(nodes, file)
    problems += wire_receivers(nodes, file)
    problems += link_stores(nodes, file)
    order, found = topological_order(nodes, file)
    problems += found
    if not nodes and not problems:
        problems.append(Problem(file, 1, message="the configuration has no modules"))
    if problems:
        raise ConfigError(problems)
    entries = [item for item in as_written if not _is_global(item)]
    stages = node_stages(nodes, order)
    prints = fingerprints(nodes, entries)
    add_store_prints(nodes, prints)
    digests = stage_digests(stages, prints)
    return PipelineConfig(file, settings, nodes, order, digest_of(digests), stages, prints, digests)


def _builds(role: Role, module_name: str) -> bool | None:
    """Does a process of ``role`` build this module (None: not a built module)?"""
    module, _ = find_module(module_name)
    if module is None:
        return None
    return role == "all" or (role == "listener") == (module.family == "input")


def _unused(role: Role, path: SourcePath) -> bool:
    """Does a process of ``role`` never read the value at ``path`` (entry index, module
    name, option, ...): an option of a module it does not build?"""
    if len(path) < 3 or path[2] in NODE_KEYS + LEGACY_KEYS:
        return False
    return _builds(role, str(path[1])) is False


def _is_global(item: Any) -> bool:
    return isinstance(item, dict) and len(item) == 1 and next(iter(item)) == "Global"


def load_config(
    path: str | FilePath, environ: dict[str, str] | None = None, *, role: Role = "all"
) -> PipelineConfig:
    """Read and validate a configuration file (``role``: as parse_config says)."""
    try:
        text = FilePath(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([Problem(str(path), 1, message=f"cannot read: {error}")]) from None
    return parse_config(text, str(path), environ, role=role)
