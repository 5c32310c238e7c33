"""``Global: plugins``: Python modules imported before the config's modules are looked up.

A plugin registers its own modules with ``@register`` (see CONTRIBUTING.md), so a config
can use them like built-in ones, in every process that loads the config (listeners and
workers alike). Importing runs the plugin's code: name only modules you installed.
"""

from __future__ import annotations

import importlib
from typing import Any

from gp_celery.config.problems import Problem
from gp_celery.config.source import Source


def import_plugins(source: Source) -> list[Problem]:
    """Import the modules named by a ``Global: plugins`` list; a failure is a Problem."""
    problems: list[Problem] = []
    for index, item in enumerate(source.data if isinstance(source.data, list) else []):
        settings = item.get("Global") if isinstance(item, dict) and len(item) == 1 else None
        plugins: Any = settings.get("plugins") if isinstance(settings, dict) else None
        if not isinstance(plugins, list):
            continue  # absent, or a wrong type that Global's own validation reports
        for position, name in enumerate(plugins):
            if not isinstance(name, str):
                continue
            try:
                importlib.import_module(name)
            except Exception as error:  # noqa: BLE001 - whatever a plugin raises is reported
                line = source.line((index, "Global", "plugins", position))
                reason = f"{type(error).__name__}: {error}"
                problems.append(
                    Problem(
                        source.file, line, "Global", "plugins", f"cannot import {name!r}: {reason}"
                    )
                )
    return problems
