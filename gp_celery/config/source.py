"""Read YAML safely, remembering the line of every item and key, and expand ${VAR}s."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from gp_celery.config.positions import Scalar, line_and_column, value_offsets
from gp_celery.config.problems import Problem

Path = tuple[str | int, ...]

KEY: Final = "[key]"
"""Last part of the path of a map key itself (pydantic's name for it), not of its value."""
_OPENERS = {"quoted scalar": "the quote", "flow sequence": "the '['", "flow mapping": "the '{'"}
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Source:
    """A parsed YAML document plus the 1-based line of every path in it."""

    file: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    text: str = ""
    scalars: dict[Path, Scalar] = field(default_factory=dict)
    """Where each string value sits in ``text``, to locate a column inside it."""

    def line(self, path: Path) -> int:
        """The line of the deepest known prefix of ``path`` (1 when nothing is known)."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return 1

    def position(self, path: Path, value: str, offset: int) -> tuple[int, int] | None:
        """Line and column in the file of ``value[offset]``, ``value`` being the string at
        ``path``; None when unknown (no text, or the value is not what the file says)."""
        scalar = self.scalars.get(path)
        if scalar is None:
            return None
        offsets = value_offsets(self.text, scalar, value)
        if offsets is None:
            return None
        return line_and_column(self.text, offsets[min(max(offset, 0), len(value))])


def _record(node: yaml.Node, path: Path, source: Source) -> None:
    source.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key_path = (*path, str(key_node.value))
            source.lines[key_path] = key_node.start_mark.line + 1
            _record(key_node, (*key_path, KEY), source)
            _record(value_node, key_path, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*path, index), source)
    elif isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
        source.scalars[path] = Scalar(node.style, node.start_mark.index, node.end_mark.index)


def parse_yaml(text: str, file: str) -> Source:
    """Parse with the safe loader only; a YAML error becomes a Problem with its line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        problem = _syntax_problem(error, file)
        raise YamlSyntaxError(_quote_closed_late(text, file, error) or problem) from None
    finally:
        loader.dispose()
    source = Source(file, data, text=text)
    if node is not None:
        _record(node, (), source)
    return source


def _quote_closed_late(text: str, file: str, error: yaml.YAMLError) -> Problem | None:
    """An unclosed quote that a later quote closes makes the error appear lines later, on
    the line where the string ended; then the line to fix is the one where it began."""
    problem_mark = getattr(error, "problem_mark", None)
    if problem_mark is None:
        return None
    last: yaml.Token | None = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.index > problem_mark.index:
                break
            if isinstance(token, yaml.ScalarToken) and token.style in ("'", '"'):
                last = token
    except yaml.YAMLError:
        pass
    if last is None or last.start_mark.line == last.end_mark.line:
        return None
    if last.end_mark.line != problem_mark.line:
        return None
    problem = getattr(error, "problem", None) or str(error)
    return Problem(
        file,
        last.start_mark.line + 1,
        message=f"invalid YAML: the quote at column {last.start_mark.column + 1} is closed "
        f"only on line {last.end_mark.line + 1}; is a closing quote missing? "
        f"(line {problem_mark.line + 1}: {problem})",
    )


def _syntax_problem(error: yaml.YAMLError, file: str) -> Problem:
    """The line that is broken. PyYAML reports an unclosed quote or bracket where it gave up
    (the end of the file, or the first line that cannot belong to it); the line where the
    quote or bracket opened, its context mark, is the one to fix."""
    problem_mark = getattr(error, "problem_mark", None)
    context_mark = getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = str(getattr(error, "context", None) or "")
    opened = context.removeprefix("while scanning ").removeprefix("while parsing ")
    unclosed = context_mark is not None and (
        (opened in ("a flow sequence", "a flow mapping", "a quoted scalar") and "end" in problem)
        or (
            opened in ("a flow sequence", "a flow mapping", "a quoted scalar")
            and problem_mark is not None
            and problem_mark.line > context_mark.line
        )
    )
    if unclosed and context_mark is not None:
        thing = _OPENERS.get(opened.removeprefix("a "), opened)
        message = f"invalid YAML: {thing} at column {context_mark.column + 1} is never closed"
        if problem_mark is not None:
            message += f" (line {problem_mark.line + 1}: {problem})"
        return Problem(file, context_mark.line + 1, message=message)
    mark = problem_mark or context_mark
    if mark is None:
        return Problem(file, 1, message=f"invalid YAML: {problem}")
    if mark.index >= len(mark.buffer or "") - 1:  # the end of the file: its last written line
        last = len((mark.buffer or "").rstrip("\0").rstrip().splitlines()) or 1
        return Problem(file, last, message=f"invalid YAML at the end of the file: {problem}")
    return Problem(
        file, mark.line + 1, message=f"invalid YAML at column {mark.column + 1}: {problem}"
    )


class YamlSyntaxError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def expand_env(
    source: Source,
    environ: dict[str, str] | None = None,
    unused: Callable[[Path], bool] | None = None,
) -> list[Problem]:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string; unset without default is
    a problem, except at a path ``unused`` says this process never reads (there it stays as
    written). ``$(field)`` references are left alone: they are per-event, not per-process."""
    env = os.environ if environ is None else environ
    problems: list[Problem] = []

    def substitute(text: str, path: Path) -> str:
        def one(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            if unused is not None and unused(path):
                return match.group(0)
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
