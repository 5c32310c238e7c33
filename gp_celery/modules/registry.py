"""Module registry: ``@register`` a class, ``discover()`` imports every module file.

Adding a module means adding one file under ``gp_celery/modules/<family>/`` (inputs:
``inputs/gp_celery_inputs/``); no list elsewhere needs editing.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from typing import Any, TypeVar

from gp_celery.modules.base import Module

ModuleT = TypeVar("ModuleT", bound=type[Module[Any]])

_modules: dict[str, type[Module[Any]]] = {}
_aliases: dict[str, str] = {}
_discovered: list[str] = []

FAMILY_PACKAGES = (
    "gp_celery_inputs",
    "gp_celery.modules.parsers",
    "gp_celery.modules.modifiers",
    "gp_celery.modules.sinks",
    "gp_celery.modules.misc",
)


def register(cls: ModuleT) -> ModuleT:
    """Class decorator: make a module available under its class name and aliases."""
    cls.name = cls.__name__
    for name in (cls.name, *cls.aliases):
        if name in _modules or name in _aliases:
            raise RuntimeError(f"module name {name!r} registered twice")
        _aliases[name] = cls.name
    _modules[cls.name] = cls
    return cls


def discover() -> None:
    """Import every module file once so that their @register calls run."""
    if _discovered:
        return
    for package_name in FAMILY_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package_name}.{info.name}")
    _discovered.extend(FAMILY_PACKAGES)


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _import_by_file_name(name: str) -> None:
    """Import only the file a YAML name lives in (``RegexParser`` -> ``regex_parser``), so
    `run` does not pay for importing every module; aliases fall back to discover()."""
    if not name.isidentifier():
        return
    module_name = _snake_case(name)
    for package_name in FAMILY_PACKAGES:
        qualified = f"{package_name}.{module_name}"
        if importlib.util.find_spec(qualified) is not None:
            importlib.import_module(qualified)
            return


def lookup(name: str) -> type[Module[Any]] | None:
    """The module class for a YAML name or alias, or None."""
    if name not in _aliases and not _discovered:
        _import_by_file_name(name)
    if name not in _aliases:
        discover()
    canonical = _aliases.get(name)
    return _modules[canonical] if canonical else None


def all_modules() -> dict[str, type[Module[Any]]]:
    """Every registered module by canonical name, sorted."""
    discover()
    return dict(sorted(_modules.items()))


def all_names() -> list[str]:
    """Every accepted name, aliases included (for 'did you mean')."""
    discover()
    return sorted(_aliases)
