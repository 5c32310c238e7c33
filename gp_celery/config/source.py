"""Read YAML safely, remembering the line of every item and key, and expand ${VAR}s."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from gp_celery.config.problems import Problem

Path = tuple[str | int, ...]

_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Source:
    """A parsed YAML document plus the 1-based line of every path in it."""

    file: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int:
        """The line of the deepest known prefix of ``path`` (1 when nothing is known)."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return 1


def _record_lines(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key_path = (*path, str(key_node.value))
            lines[key_path] = key_node.start_mark.line + 1
            _record_lines(value_node, key_path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines)


def parse_yaml(text: str, file: str) -> Source:
    """Parse with the safe loader only; a YAML error becomes a Problem with its line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(error, "problem", None) or str(error)
        raise YamlSyntaxError(Problem(file, line, message=f"invalid YAML: {problem}")) from None
    finally:
        loader.dispose()
    source = Source(file, data)
    if node is not None:
        _record_lines(node, (), source.lines)
    return source


class YamlSyntaxError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def expand_env(source: Source, environ: dict[str, str] | None = None) -> list[Problem]:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string; unset without default is
    a problem. ``$(field)`` references are left alone: they are per-event, not per-process."""
    env = os.environ if environ is None else environ
    problems: list[Problem] = []

    def substitute(text: str, path: Path) -> str:
        def one(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(
                Problem(
                    source.file,
                    source.line(path),
                    message=f"environment variable '{name}' is not set and has no default",
                )
            )
            return ""

        return _ENV_VAR.sub(one, text) if "${" in text else text

    def walk(value: Any, path: Path) -> Any:
        if isinstance(value, str):
            return substitute(value, path)
        if isinstance(value, list):
            return [walk(item, (*path, index)) for index, item in enumerate(value)]
        if isinstance(value, dict):
            return {key: walk(item, (*path, str(key))) for key, item in value.items()}
        return value

    source.data = walk(source.data, ())
    return problems
