"""Pack: accepted for old configs; the fleet's membership is its Redis."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gp_celery.modules.base import Example, Options
from gp_celery.modules.misc.replaced import Replaced
from gp_celery.modules.registry import register


class PackOptions(Options):
    name: str
    """GambolPutty: the cluster's name; not used."""
    secret: str
    """GambolPutty: the shared secret of its AES messages; not used (and never logged)."""
    broadcast: str
    """GambolPutty: the broadcast address of discovery; not used."""
    interface: str = "0.0.0.0"  # noqa: S104 - GambolPutty's default, not bound here
    """GambolPutty: the address it listened on; not used."""
    port: int = Field(default=5252, ge=0, le=65535)
    """GambolPutty: its UDP port; not used."""
    interval: float = Field(default=10, gt=0)
    """GambolPutty: seconds between discovery and liveness messages; not used."""
    pack: Literal["leader", "follower"] = "leader"
    """GambolPutty: this instance's static role; not used."""


@register
class Pack(Replaced[PackOptions]):
    """Accepted for old configs and does nothing: a fleet's members meet in its Redis.

    GambolPutty's Pack found instances on a LAN with encrypted UDP broadcasts and kept a
    leader/follower list ("first alpha": no election, no failover). Here every listener
    and worker of a fleet works through the same broker and writes its totals, host, pid,
    role and config digest to the fleet's Redis every few seconds: ``gp-celery stats``
    and ``gp-celery web`` list every process with when it was last seen, and nothing
    needs a leader. The node stands alone and sends no packets; its options are accepted
    and not used.
    """

    aliases = ("cluster.Pack",)
    instead = "`gp-celery stats` and `gp-celery web` list a fleet's processes from its Redis."
    examples = [
        Example(
            options={"name": "logs", "secret": "s3cret", "broadcast": "10.0.0.255"},
            given=[],
            expect=[],
            note="Logs once what replaces it; events never pass through it.",
        ),
    ]
