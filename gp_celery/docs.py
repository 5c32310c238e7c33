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
from gp_celery.modules.types import TaggedOptions, option_names


@dataclass(frozen=True)
class OptionDoc:
    name: str
    type: str
    default: str
    doc: str


@dataclass(frozen=True)
class VariantDoc:
    """The options of one variant of a union model, e.g. ModifyFields' 'action: rename'."""

    name: str
    """The tag and its values, e.g. 'action: hash, anonymize'."""
    summary: str
    options: tuple[OptionDoc, ...]
    """The variant's own options; those every variant shares are in ModuleDoc.options."""


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
    variants: tuple[VariantDoc, ...] = ()
    """For options that are one model per action (a union): each action's own options."""


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


def option_docs(model: type[Options], skip: frozenset[str] = frozenset()) -> tuple[OptionDoc, ...]:
    """One entry per option (under its first name), except those in ``skip``."""
    shown: dict[str, str] = {}
    for spelling, name in option_names(model).items():
        shown.setdefault(name, spelling)
    return tuple(
        OptionDoc(
            shown[name],
            _annotation_text(model, name),
            _default_text(field),
            (field.description or "").strip(),
        )
        for name, field in model.model_fields.items()
        if name not in skip
    )


def variant_docs(model: type[Options]) -> tuple[VariantDoc, ...]:
    """Each variant of a union model, its own options only, in declaration order."""
    if not issubclass(model, TaggedOptions) or "variants" not in model.__dict__:
        return ()
    tags: dict[type[TaggedOptions], list[str]] = {}
    for tag, variant in model.variants.items():
        tags.setdefault(variant, []).append(tag)
    shared = frozenset(model.model_fields)
    return tuple(
        VariantDoc(
            f"{model.tag}: {', '.join(values)}",
            (variant.__doc__ or "").strip().partition("\n")[0],
            option_docs(variant, shared),
        )
        for variant, values in tags.items()
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
        variant_docs(cls.options_model),
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
