"""WebserverTornado: accepted for old configs; `gp-celery web` serves the fleet's page."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gp_celery.modules.base import Example, Options
from gp_celery.modules.misc.replaced import Replaced
from gp_celery.modules.registry import register


class WebserverTornadoOptions(Options):
    port: int = Field(default=5100, ge=0, le=65535)
    """GambolPutty: the port it served on; not used."""
    tls: bool = False
    """GambolPutty: serve TLS; not used."""
    key: str | None = None
    """GambolPutty: TLS key; not used."""
    cert: str | None = None
    """GambolPutty: TLS certificate; not used."""
    document_root: str = "../assets/webserver_docroot"
    """GambolPutty: its static files; not used."""
    application_settings: dict[str, Any] | None = None
    """GambolPutty: extra Tornado settings; not used."""


@register
class WebserverTornado(Replaced[WebserverTornadoOptions]):
    """Accepted for old configs and does nothing: `gp-celery web` serves the fleet's page.

    GambolPutty's WebserverTornado was an HTTP server inside the pipeline process, for
    WebGui's pages (server info, configuration edits, live log, restarts), with no
    authentication. Here ``gp-celery web -c FILE`` is a process of its own: the pipeline
    drawn with live rates, queue depths, processes and their config digests, and the
    dead letters to replay, behind basic auth (required beyond loopback);
    ``gp-celery exporter`` serves Prometheus metrics. Its options are accepted and not
    used.
    """

    aliases = ("webserver.WebserverTornado", "plugin.WebserverTornado")
    instead = "run `gp-celery web -c FILE` (and `gp-celery exporter` for Prometheus)."
    examples = [
        Example(
            options={"port": 5100},
            given=[],
            expect=[],
            note="Logs once what replaces it; no server is started.",
        ),
    ]
