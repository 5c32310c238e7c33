"""WebGui: accepted for old configs; `gp-celery web` is the fleet's page."""

from __future__ import annotations

from gp_celery.modules.base import Example, Options
from gp_celery.modules.misc.replaced import Replaced
from gp_celery.modules.registry import register


class WebGuiOptions(Options):
    tornado_webserver: str = "WebserverTornado"
    """GambolPutty: id of the WebserverTornado module; not used."""
    document_root: str = "docroot"
    """GambolPutty: its static files; not used."""


@register
class WebGui(Replaced[WebGuiOptions]):
    """Accepted for old configs and does nothing: `gp-celery web` is the fleet's page.

    GambolPutty's WebGui showed pack members, their configuration and logs, and edited
    configurations and restarted instances, without authentication. ``gp-celery web -c
    FILE`` shows the pipeline as a graph with live per-node rates and totals, queue
    depths, every listener and worker with its config digest, and the dead letters, each
    of which can be replayed; it does not edit configurations (a config belongs in version
    control) and asks for basic auth beyond loopback. Its options are accepted and not
    used.
    """

    aliases = ("webserver.WebGui", "plugin.WebGui")
    instead = "run `gp-celery web -c FILE`."
    examples = [
        Example(
            options={},
            given=[],
            expect=[],
            note="Logs once what replaces it; no page is served from the pipeline.",
        ),
    ]
