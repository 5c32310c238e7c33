"""gp-celery: collect, parse, enrich and store logs, configured by one YAML file.

``celery -A gp_celery worker`` finds the Celery app here. It is created on first access
only, so embedded mode (`gp-celery run`) never imports Celery.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        from gp_celery.app import app

        # Importing the submodule gp_celery.app bound the name `app` to it; rebind it to
        # the Celery app, which is what `gp_celery.app` means to users and to Celery.
        globals()["app"] = app
        return app
    raise AttributeError(f"module 'gp_celery' has no attribute {name!r}")
