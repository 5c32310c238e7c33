"""gp-celery: collect, parse, enrich and store logs, configured by one YAML file."""

from __future__ import annotations

__version__ = "0.1.0"
