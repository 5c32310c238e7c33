"""The Markdown references generated from the code: MODULES.md and the Global options table
of CONFIGURATION.md (``gp-celery modules --markdown [NAME]``). Tests keep both files equal
to this output, so the documents cannot drift from the option models."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from gp_celery.attribute_docs import field_doc
from gp_celery.config.global_options import GlobalOptions
from gp_celery.docs import (
    ModuleDoc,
    OptionDoc,
    all_docs,
    example_entry,
    example_events,
    user_text,
)
from gp_celery.modules.planned import planned_note

FAMILY_TITLES = {
    "input": "Inputs",
    "parser": "Parsers",
    "modifier": "Modifiers",
    "misc": "Misc",
    "sink": "Sinks",
}

REGENERATE_MODULES = "gp-celery modules --markdown > MODULES.md"

_CODE_SPAN = re.compile(r"(``.*?``|`[^`]*`)")


def prose(text: str) -> str:
    """Docstring text as Markdown: code spans kept, a '<' outside them escaped (GitHub
    would read ``<hostname>`` as an HTML tag and hide it)."""
    return "".join(
        chunk if chunk.startswith("`") else chunk.replace("<", "&lt;")
        for chunk in _CODE_SPAN.split(text)
    )


def _cell(text: str) -> str:
    return prose(" ".join(text.split())).replace("|", "\\|")


def _code_cell(text: str) -> str:
    return "`" + text.replace("|", "\\|") + "`" if text else ""


def _anchor(name: str) -> str:
    return name.lower()


def module_markdown(doc: ModuleDoc) -> str:
    """One module's section: summary, text, options table, aliases, examples."""
    title = f"### {doc.name}" + ("" if doc.built else " (not built yet)")
    lines = [title, "", f"Family: {doc.family}; {_aliases(doc)}.", "", prose(doc.summary)]
    if details := user_text(doc.details):
        lines += ["", prose(details)]
    if doc.options:
        lines += ["", *_option_table(doc.options)]
    elif doc.built:
        lines += ["", "No options of its own."]
    for variant in doc.variants:
        lines += ["", f"**Options for {variant.name}:** {prose(variant.summary)}"]
        lines += ["", *_option_table(variant.options)] if variant.options else []
    if not doc.built and (instead := planned_note(doc.name)):
        lines += ["", f"Instead: {prose(instead)}"]
    for example in doc.examples:
        title = f"**Example:** {prose(example.note)}" if example.note else "**Example:**"
        lines += ["", title, "", "```yaml", example_entry(doc.name, example)]
        lines += [*example_events(example), "```"]
    return "\n".join(lines)


def _option_table(options: tuple[OptionDoc, ...]) -> list[str]:
    return [
        "| option | type | default | description |",
        "|---|---|---|---|",
        *(
            f"| `{option.name}` | {_code_cell(option.type)} | "
            f"{'*required*' if option.default == 'required' else _code_cell(option.default)} | "
            f"{_cell(user_text(option.doc))} |"
            for option in options
        ),
    ]


def _aliases(doc: ModuleDoc) -> str:
    if not doc.aliases:
        return "no other name"
    return "also accepted as " + ", ".join(f"`{alias}`" for alias in doc.aliases)


def modules_markdown() -> str:
    """MODULES.md: every built module in full, then the ones not built yet."""
    docs = all_docs()
    built = [doc for doc in docs if doc.built]
    planned = [doc for doc in docs if not doc.built]
    lines = [
        "# Module reference",
        "",
        "Generated from the code by `gp-celery modules --markdown`; do not edit by hand.",
        f"Regenerate it with `{REGENERATE_MODULES}`.",
        "",
        "Every module also takes the node keys (`id`, `filter`, `receivers`, `add_fields`,",
        "`delete_fields`, `event_type`, `log_level`, `queue`), described with the file",
        "format, filters and templates in [CONFIGURATION.md](CONFIGURATION.md).",
        "`gp-celery modules NAME` shows the same page in a terminal.",
        "",
        "| family | modules |",
        "|---|---|",
    ]
    for family, title in FAMILY_TITLES.items():
        names = [f"[{doc.name}](#{_anchor(doc.name)})" for doc in built if doc.family == family]
        if names:
            lines.append(f"| {title.lower()} | {', '.join(names)} |")
    lines.append(f"| not built yet | [{len(planned)} modules](#not-built-yet) |")
    for family, title in FAMILY_TITLES.items():
        members = [doc for doc in built if doc.family == family]
        if members:
            lines += ["", f"## {title}"]
            for doc in members:
                lines += ["", module_markdown(doc)]
    lines += [
        "",
        "## Not built yet",
        "",
        "GambolPutty modules that gp-celery does not have yet. `gp-celery check` names them",
        "(and `check --strict` fails); `gp-celery run` refuses a config that uses one.",
        "",
        "| module | family | LumberMill name |",
        "|---|---|---|",
    ]
    lines += [
        f"| `{doc.name}` | {doc.family} | {', '.join(f'`{a}`' for a in doc.aliases)} |"
        for doc in planned
    ]
    return "\n".join(lines) + "\n"


# --- The Global section ---


_BOUNDS = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}


def _allowed(field: FieldInfo) -> str:
    """The range a field's constraints allow, in words ('1 to 100000', 'at least 1')."""
    found = {
        key: getattr(rule, key)
        for rule in field.metadata
        for key in _BOUNDS
        if getattr(rule, key, None) is not None
    }
    if "ge" in found and "le" in found:
        return f"{found['ge']} to {found['le']}"
    return ", ".join(f"{_BOUNDS[key]} {value}" for key, value in found.items())


def _global_rows(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str, str]]:
    """(dotted option, default, description) of a settings model, sections flattened; the
    description ends with the allowed range where the model sets one."""
    for name, field in model.model_fields.items():
        nested: Any = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            yield from _global_rows(nested, f"{prefix}{name}.")
            continue
        text = " ".join(field_doc(model, name).split())
        if allowed := _allowed(field):
            text += f" Allowed: {allowed}."
        yield f"{prefix}{name}", repr(field.default), text


def global_markdown() -> str:
    """The table of every ``Global`` option, its default and meaning."""
    lines = ["| option | default | meaning |", "|---|---|---|"]
    lines += [
        f"| `{name}` | {_code_cell(default)} | {_cell(text)} |"
        for name, default, text in _global_rows(GlobalOptions)
    ]
    return "\n".join(lines)


def global_text() -> str:
    """The ``Global`` section as a terminal page (``gp-celery modules Global``)."""
    lines = [
        "Global (settings)",
        "",
        "Process-wide settings: '- Global: {option: value}' anywhere in the list, at most once.",
        "Unknown options are errors.",
        "",
        "Options:",
    ]
    for name, default, text in _global_rows(GlobalOptions):
        lines.append(f"  {name} = {default}")
        lines += textwrap.wrap(text, 88, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines)
