"""Module documentation generated from the option models (what `gp-celery modules` shows)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from gp_celery.modules.base import Module, Options
from gp_celery.modules.planned import PLANNED
from gp_celery.modules.registry import all_modules


@dataclass(frozen=True)
class OptionDoc:
    name: str
    type: str
    default: str
    doc: str


@dataclass(frozen=True)
class ModuleDoc:
    name: str
    family: str
    summary: str
    details: str
    aliases: tuple[str, ...]
    options: tuple[OptionDoc, ...]
    examples: tuple[Any, ...]
    built: bool


def _annotation_text(model: type[Options], name: str) -> str:
    for klass in model.__mro__:
        raw = getattr(klass, "__annotations__", {}).get(name)
        if raw is not None:
            return raw if isinstance(raw, str) else getattr(raw, "__name__", repr(raw))
    return "any"


def _default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    factory = field.default_factory
    value = factory() if factory is not None else field.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return "required"
    source = getattr(value, "source", None)
    return repr(source) if isinstance(source, str) else repr(value)


def option_docs(model: type[Options]) -> tuple[OptionDoc, ...]:
    return tuple(
        OptionDoc(
            field.alias or name,
            _annotation_text(model, name),
            _default_text(field),
            (field.description or "").strip(),
        )
        for name, field in model.model_fields.items()
    )


def module_doc(cls: type[Module[Any]]) -> ModuleDoc:
    text = (cls.__doc__ or "").strip()
    summary, _, details = text.partition("\n")
    return ModuleDoc(
        cls.name,
        cls.family,
        summary.strip(),
        _dedent(details),
        cls.aliases,
        option_docs(cls.options_model),
        tuple(cls.examples),
        True,
    )


def _dedent(text: str) -> str:
    return textwrap.dedent(text).strip()


def all_docs() -> list[ModuleDoc]:
    """Built modules, then the ones not built yet, each group by family and name."""
    built = [module_doc(cls) for cls in all_modules().values()]
    planned = [
        ModuleDoc(name, family, "not built yet", "", (alias,), (), (), False)
        for name, (family, alias) in PLANNED.items()
    ]
    order = {"input": 0, "parser": 1, "modifier": 2, "misc": 3, "sink": 4}
    return sorted(built, key=lambda d: (order.get(d.family, 9), d.name)) + sorted(
        planned, key=lambda d: (order.get(d.family, 9), d.name)
    )
