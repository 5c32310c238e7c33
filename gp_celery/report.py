"""What `check` and `modules` print: rich tables on a terminal, plain text otherwise."""

from __future__ import annotations

import difflib
import sys
from typing import Any

from gp_celery.config import PipelineConfig
from gp_celery.docs import (
    ModuleDoc,
    OptionDoc,
    all_docs,
    example_entry,
    example_events,
    user_text,
)
from gp_celery.modules.planned import planned_note


def _tty() -> bool:
    return sys.stdout.isatty()


def _rich_print(*renderables: Any) -> None:
    from rich.console import Console

    Console().print(*renderables)


def check_header(config: PipelineConfig, *, strict: bool) -> tuple[str, bool]:
    """The first line `check` prints, and whether the check passed. It says OK only when
    the command exits 0: with --strict, modules not built yet make it fail."""
    total, planned = len(config.nodes), len(config.planned)
    if not planned:
        return f"{config.file}: OK: {total} module{'' if total == 1 else 's'}", True
    if strict:
        return (
            f"{config.file}: FAILED (--strict): {planned} of {total} modules are not built yet",
            False,
        )
    return f"{config.file}: OK: {total} modules ({planned} not built yet)", True


def print_check(config: PipelineConfig, *, strict: bool = False) -> bool:
    """The graph in topological order with receivers, filters and planned modules; returns
    whether the check passed."""
    header, passed = check_header(config, strict=strict)
    lines = [header]
    stages = config.stages
    for node in config.order:
        targets = []
        for receiver in node.receivers or []:
            flt = f" if {receiver.filter.source}" if receiver.filter else ""
            targets.append(f"{receiver.target}{flt}")
        arrow = " -> " + ", ".join(targets) if targets else ""
        queue = f" [queue {', '.join(stages[node.id])}]" if stages.get(node.id) else ""
        family = node.family if node.module else f"{node.family}, not built yet"
        lines.append(f"  {node.id} ({family}){queue}{arrow}")
    for node in config.planned:
        instead = planned_note(node.type_name)
        lines.append(
            f"{config.file}:{node.line}: {node.label}: not built yet; its options "
            "are not checked and `gp-celery run` refuses this config"
            + (f"; instead: {instead}" if instead else "")
        )
    lines += [str(warning) for warning in config.warnings]
    lines += [
        f"  stage {queue}: digest {digest[:16]} (what its workers run; tasks carry it)"
        for queue, digest in config.digests.items()
    ]
    print("\n".join(lines))
    return passed


def print_modules(*, markdown: bool = False) -> None:
    if markdown:
        from gp_celery.reference import modules_markdown

        print(modules_markdown(), end="")
        return
    docs = all_docs()
    if _tty():
        from rich.table import Table

        table = Table("module", "family", "LumberMill name", "what it does")
        for doc in docs:
            style = "dim" if not doc.built else ""
            table.add_row(doc.name, doc.family, ", ".join(doc.aliases), doc.summary, style=style)
        _rich_print(table)
        return
    for doc in docs:
        alias = f" [{', '.join(doc.aliases)}]" if doc.aliases else ""
        print(f"{doc.name:<22} {doc.family:<9} {doc.summary}{alias}")


def find_module(name: str) -> ModuleDoc | None:
    """The module a user means: its YAML name or an alias, in any case
    (``regexparser``, ``MODIFYFIELDS``, ``parser.regex``)."""
    docs = all_docs()
    for doc in docs:
        if name == doc.name or name in doc.aliases:
            return doc
    wanted = name.casefold()
    for doc in docs:
        if wanted in (known.casefold() for known in (doc.name, *doc.aliases)):
            return doc
    return None


def closest_modules(name: str, limit: int = 3) -> list[str]:
    """YAML names of the modules a misspelt ``name`` may mean: the best spelling matches
    (any case, aliases included), else the names that contain it."""
    by_key: dict[str, str] = {}
    for doc in all_docs():
        for known in (doc.name, *doc.aliases):
            by_key.setdefault(known.casefold(), doc.name)
    wanted = name.casefold()
    scored = sorted(
        ((difflib.SequenceMatcher(None, wanted, key).ratio(), key) for key in by_key),
        reverse=True,
    )
    best = scored[0][0] if scored else 0.0
    keys = [key for score, key in scored if score >= max(0.6, best - 0.1)]
    if not keys and len(wanted) >= 3:
        keys = sorted(key for key in by_key if wanted in key)
    found: list[str] = []
    for key in keys:
        if by_key[key] not in found:
            found.append(by_key[key])
    return found[:limit]


def module_text(doc: ModuleDoc) -> str:
    """The full plain-text page for one module: what a user needs to configure it."""
    lines = [f"{doc.name} ({doc.family})" + (" - NOT BUILT YET" if not doc.built else "")]
    if doc.aliases:
        lines.append(f"  also accepted as: {', '.join(doc.aliases)}")
    lines += ["", doc.summary]
    details = user_text(doc.details)
    if details:
        lines += ["", details]
    if doc.options:
        lines += ["", "Options:", *_option_lines(doc.options)]
    for variant in doc.variants:
        lines += ["", f"Options for {variant.name}: {variant.summary}"]
        lines += _option_lines(variant.options) or ["  (none of its own)"]
    for example in doc.examples:
        title = f"Example: {example.note}" if example.note else "Example:"
        lines += ["", title, *_indented(example_entry(doc.name, example))]
        lines += _indented("\n".join(example_events(example)))
    return "\n".join(lines)


def _option_lines(options: tuple[OptionDoc, ...]) -> list[str]:
    lines = []
    for option in options:
        lines.append(f"  {option.name}: {option.type} = {option.default}")
        if text := user_text(option.doc):
            lines.append(f"      {text}")
    return lines


def _indented(text: str) -> list[str]:
    return [f"  {line}" for line in text.splitlines()]


def print_module(name: str, *, markdown: bool = False) -> bool:
    """Print one module's page (or the Global settings'); False if there is no such name."""
    from gp_celery import reference

    if name.casefold() == "global":
        print(reference.global_markdown() if markdown else reference.global_text())
        return True
    doc = find_module(name)
    if doc is None:
        close = closest_modules(name)
        hint = " or ".join(f"'{known}'" for known in close)
        hint = f" (did you mean {hint}?)" if hint else ""
        print(
            f"gp-celery: no module named {name!r}{hint}; `gp-celery modules` lists them",
            file=sys.stderr,
        )
        return False
    print(reference.module_markdown(doc) if markdown else module_text(doc))
    return True
