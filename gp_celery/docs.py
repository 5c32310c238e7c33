"""Module documentation generated from the option models (what `gp-celery modules` shows)."""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from gp_celery.attribute_docs import field_doc
from gp_celery.event import EVENT_TYPE, META
from gp_celery.modules.base import Example, Module, Options
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
            field_doc(model, name).strip(),
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


# --- What module pages show: the user's view, without the module contract's internals ---

_INTERNAL = re.compile(
    r"\b(?:tick|serve|process|write|setup|close)\(\)"  # methods of the module contract
    r"|\bbound_port\b|``emit``|\basyncio\b|\bdaemon thread\b|\bexecutor\b|\bBytesIO\b"
    r"|\bsys\.std(?:in|out|err)\b"
)
"""Words that describe how a module is built, not what it does for a user."""

_CODE_SPAN = re.compile(r"(``.*?``)")
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!e\.g\.)(?<!i\.e\.)\s+(?=[A-Z`\"'(])")
_CLAUSE_JOINT = re.compile(r"; |, and ")
_PARENTHESIS = re.compile(r"\s+\(((?:[^()]|\(\))+)\)")  # " (a note, tick() allowed)"


def is_internal(text: str) -> bool:
    """Whether ``text`` names an internal of the module contract (``tick()``, ...)."""
    return _INTERNAL.search(text) is not None


def user_text(text: str) -> str:
    """A docstring's text as pages show it, without what it says about internals
    (``tick()``, ``serve()``, ``bound_port``, ...): such a parenthesis or trailing clause is
    cut, a sentence that starts with one is left out, and so is a paragraph of nothing else.
    Untouched paragraphs keep their layout.

    Module docstrings should not need this; it keeps pages clean while some still do.
    """
    if not is_internal(text):
        return text
    paragraphs = [_user_paragraph(paragraph) for paragraph in text.split("\n\n")]
    return "\n\n".join(paragraph for paragraph in paragraphs if paragraph)


def _user_paragraph(paragraph: str) -> str:
    if not is_internal(paragraph):
        return paragraph
    if paragraph.lstrip().startswith("- "):  # a bullet list: each item on its own
        items = [" ".join(item.split())[2:] for item in re.split(r"\n(?=\s*- )", paragraph)]
        kept = [_user_paragraph(item) for item in items]
        return "\n".join(
            textwrap.fill(f"- {item}", 88, subsequent_indent="  ") for item in kept if item
        )
    sentences = _SENTENCE_END.split(" ".join(paragraph.split()))
    if len(sentences) > 1 and all(map(is_internal, sentences)):
        return ""
    kept = [clean for clean in map(_user_sentence, sentences) if clean]
    return textwrap.fill(" ".join(kept), 88)


def _user_sentence(sentence: str) -> str:
    """The sentence up to its first internal clause, without internal parentheses."""
    if not is_internal(sentence):
        return sentence

    def parenthesis(match: re.Match[str]) -> str:
        kept = [part for part in match.group(1).split("; ") if not is_internal(part)]
        return f" ({'; '.join(kept)})" if kept else ""

    sentence = _PARENTHESIS.sub(parenthesis, sentence)
    kept = ""
    for clause, joint in _clauses(sentence):
        if is_internal(clause):
            break
        kept += clause + joint
    kept = kept.rstrip(",; ").removesuffix(", and")
    return kept if not kept or kept.endswith((".", "!", "?")) else kept + "."


def _clauses(sentence: str) -> list[tuple[str, str]]:
    """(clause, joint after it) pairs, split at '; ' and ', and ' outside ``code``."""
    pairs: list[tuple[str, str]] = []
    clause = ""
    for chunk in _CODE_SPAN.split(sentence):
        if chunk.startswith("``"):
            clause += chunk
            continue
        position = 0
        for joint in _CLAUSE_JOINT.finditer(chunk):
            pairs.append((clause + chunk[position : joint.start()], joint.group()))
            clause, position = "", joint.end()
        clause += chunk[position:]
    pairs.append((clause, ""))
    return pairs


# --- Examples as a user pastes them: the config entry in YAML, the events as comments ---


class _IndentedDumper(yaml.SafeDumper):
    """Lists indented under their key, as in the project's conf/ files."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def example_entry(name: str, example: Example) -> str:
    """The example's config entry: ``- Name:`` with its options, or ``- Name`` without."""
    entry: Any = {name: example.options} if example.options else name
    text: str = yaml.dump(
        [entry],
        Dumper=_IndentedDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1_000_000,  # a long regex stays on one line, as a user writes it
    )
    return text.rstrip("\n")


def example_events(example: Example) -> list[str]:
    """``# given: {...}`` and ``# expected: {...}`` comment lines, one event a line, in JSON.
    An expected event names only the fields the example checks (and the event type in
    the metadata, where the example sets one)."""
    expected = [
        {**event, META: {**event.get(META, {}), EVENT_TYPE: example.event_type}}
        if example.event_type is not None
        else event
        for event in example.expect
    ]
    lines = _labelled("given:   ", [_json(event) for event in example.given])
    lines += _labelled("expected:", [_json(event) for event in expected] or ["nothing (dropped)"])
    return lines


def _labelled(label: str, values: list[str]) -> list[str]:
    return [
        f"# {label if index == 0 else ' ' * len(label)} {value}"
        for index, value in enumerate(values)
    ]


def _json(value: Any) -> str:
    """Events as JSON; bytes (never in a config, only in events) shown as Python shows them."""
    return json.dumps(value, ensure_ascii=False, default=repr)
