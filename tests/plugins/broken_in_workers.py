"""A test plugin that imports in the command line but not in a Celery worker: a plugin
missing on the worker hosts, the way `gp-celery run --workers` must notice."""

from __future__ import annotations

import sys

if "worker" in sys.argv:
    raise ImportError("this plugin is not installed on the worker hosts")
