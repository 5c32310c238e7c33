"""PackConfiguration: accepted for old configs; every host runs the same config file."""

from __future__ import annotations

from pydantic import Field

from gp_celery.modules.base import Example, Options
from gp_celery.modules.misc.replaced import Replaced
from gp_celery.modules.registry import register


class PackConfigurationOptions(Options):
    pack: str = "Pack"
    """GambolPutty: id of the Pack module; not used."""
    interval: float = Field(default=60, gt=0)
    """GambolPutty: seconds between checks of the leader's configuration; not used."""
    ignore_modules: list[str] = []
    """GambolPutty: modules not to sync; not used."""


@register
class PackConfiguration(Replaced[PackConfigurationOptions]):
    """Accepted for old configs and does nothing: every host runs the same config file.

    GambolPutty's PackConfiguration sent the leader's configuration to its followers, which
    rewrote their own file and restarted. Here every listener and worker of a fleet is
    started with the same config file (the systemd units and the compose file under
    ``scripts/`` and ``docker/`` show how), and a task carries the digest of the stage it
    was made for: a worker running another version of the file does not run it but
    returns it, and parks it when no worker takes it (``gp-celery dlq``). Distributing
    the file is the deployment tool's job: ``gp-celery config push`` (a versioned config
    in Redis that processes pick up between batches) is not built yet. Its options are
    accepted and not used.
    """

    aliases = ("cluster.PackConfiguration",)
    instead = "start every listener and worker with the same config file; tasks carry its digest."
    examples = [
        Example(
            options={"pack": "Pack", "interval": 60},
            given=[],
            expect=[],
            note="Logs once what replaces it; events never pass through it.",
        ),
    ]
