"""Pydantic validation errors as Problems at the user's line (and column, in a filter).

Pydantic locates an error by its path in the validated data (``('receivers', 0, 'filter')``)
mixed with its own tags (``'function-plain[...]'``, ``'[key]'``). ``yaml_path`` walks the
config data alongside to find the YAML node it means; an option whose validator takes the
whole list at once (``field_extraction_patterns``, ``source_fields``) gets the failing entry
found by validating the entries one by one, so the error names that entry's line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, get_args

from pydantic import BaseModel, TypeAdapter, ValidationError

from gp_celery.config.problems import Problem, did_you_mean, shorten
from gp_celery.config.source import KEY, Path, Source
from gp_celery.expressions import ExpressionError
from gp_celery.modules.types import TextError


def yaml_path(data: Any, loc: Iterable[str | int]) -> Path:
    """The path of the YAML node a pydantic ``loc`` points at, relative to ``data``.

    List indexes and map keys as written are followed; pydantic's tags are skipped; a
    GambolPutty ``- name: value`` entry (a one-key map inside a list) is stepped through when
    the next part names something inside it.
    """
    path: list[str | int] = []
    current = data
    for part in loc:
        if isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
            continue
        if isinstance(current, dict):
            key = _key(current, part)
            if key is None and len(current) == 1:  # '- name: {...}' stepped through
                ((only, inner),) = current.items()
                if isinstance(inner, dict) and _key(inner, part) is not None:
                    path.append(str(only))
                    current = inner
                    key = _key(current, part)
            if key is not None:
                path.append(str(key))
                current = current[key]
    return tuple(path)


def _key(mapping: dict[Any, Any], part: str | int) -> Any:
    for key in mapping:
        if key == part or str(key) == str(part):
            return key
    return None


def value_at(data: Any, path: Path) -> Any:
    for part in path:
        if isinstance(data, list) and isinstance(part, int):
            data = data[part]
        elif isinstance(data, dict):
            data = data[_key(data, part)]
    return data


class Locator:
    """Turns the ValidationError of one model into Problems for one config entry."""

    def __init__(self, source: Source, path: Path, label: str, settings: dict[str, Any]) -> None:
        self.source, self.path, self.label, self.settings = source, path, label, settings

    def problem(self, option: str, message: str, sub: Path = ()) -> Problem:
        line = self.source.line((*self.path, *sub))
        return Problem(self.source.file, line, self.label, option, _receiver(sub) + message)

    def problems(
        self,
        error: ValidationError,
        model: type[BaseModel],
        extra_choices: Iterable[str] = (),
        *,
        option_depth: int | None = None,
    ) -> list[Problem]:
        """One Problem per error, naming the option by the keys of its YAML path (pydantic's
        tags left out); ``option_depth`` 1 names it by its top-level key only (node keys)."""
        found = []
        for item in error.errors():
            loc = tuple(item["loc"])
            sub = self._entry(model, loc, yaml_path(self.settings, loc), item)
            keys = [str(part) for part in (sub or loc) if isinstance(part, str)]
            option = ".".join(keys[:option_depth])
            message = _message(item, _choices(model, loc, extra_choices))
            found.append(self._located(option, message, sub, item))
        return found

    def _entry(self, model: type[BaseModel], loc: tuple[Any, ...], sub: Path, item: Any) -> Path:
        """For an error about a whole list option, the entry that fails on its own."""
        if len(loc) != 1 or sub != (str(loc[0]),) or item["type"] == "missing":
            return sub
        items = value_at(self.settings, sub)
        field = model.model_fields.get(str(loc[0]))
        if not isinstance(items, list) or not items or field is None:
            return sub
        annotation: Any = field.annotation
        if field.metadata:
            annotation = Annotated[(annotation, *field.metadata)]
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        for index, entry in enumerate(items):
            try:
                adapter.validate_python([entry])
            except ValidationError:
                return (*sub, index)
        return sub

    def _located(self, option: str, message: str, sub: Path, item: Any) -> Problem:
        """A problem in compiled text (filter, template) at its line and column in the file."""
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, TextError):
            kind, expression = f"bad {cause.kind}: ", cause.error
        elif isinstance(cause, ExpressionError):
            kind, expression = "", cause
        else:
            return self.problem(option, message, sub)
        value, at = value_at(self.settings, sub), (*self.path, *sub)
        if tuple(item["loc"])[-1:] == (KEY,) and sub:  # the map key itself failed
            value, at = sub[-1], (*at, KEY)
        where = None
        if isinstance(value, str):
            where = self.source.position(at, value, expression.column - 1)
        if where is None:
            return self.problem(option, message, sub)
        line, column = where
        text = f"{_receiver(sub)}{kind}column {column}: {expression.message}"
        return Problem(self.source.file, line, self.label, option, text)


def _receiver(sub: Path) -> str:
    """``receiver 'X': `` for a problem inside ``receivers: [{X: {...}}]``."""
    if len(sub) >= 3 and sub[0] == "receivers":
        return f"receiver '{sub[2]}': "
    return ""


def _choices(model: type[BaseModel], loc: tuple[Any, ...], extra: Iterable[str]) -> list[str]:
    """The keys allowed where ``loc`` ends, for 'did you mean'."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None:
            break
        field = current.model_fields.get(str(part))
        if field is not None:
            current = _model_in(field.annotation)
    if current is None:
        return []
    return [*current.model_fields, *(extra if current is model else ())]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _message(error: Any, choices: list[str]) -> str:
    kind, message = str(error["type"]), str(error["msg"])
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        return f"unknown option '{name}'{did_you_mean(name, choices)}"
    if kind == "missing":
        return "missing required option"
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if "input" in error and kind not in ("value_error", "assertion_error"):
        message += f", got {shorten(error['input'])}"
    return message
