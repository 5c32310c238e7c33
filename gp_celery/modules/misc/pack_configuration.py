"""PackConfiguration: accepted for old configs; `gp-celery config push` replaces it."""

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
    """Accepted for old configs and does nothing: `gp-celery config push` replaces it.

    GambolPutty's PackConfiguration sent the leader's configuration to its followers, which
    rewrote their own file and restarted. Here ``gp-celery config push -c FILE`` stores a
    checked config in Redis as a new version; listeners (``listen --from-broker NAME``) and
    workers (``--gp-from-broker NAME``) load it and follow new versions between batches
    without a restart, and each chunk runs on the version it was made for. Its options are
    accepted and not used.
    """

    aliases = ("cluster.PackConfiguration",)
    instead = "push the config with `gp-celery config push` and start with --from-broker."
    examples = [
        Example(
            options={"pack": "Pack", "interval": 60},
            given=[],
            expect=[],
            note="Logs once what replaces it; events never pass through it.",
        ),
    ]
