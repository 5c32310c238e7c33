"""What each stage digest stands for, kept in Redis so a refusal can say what differs.

Listeners and workers store, per stage digest, the fingerprints of that stage's nodes
(node -> option -> hash of its value as written). A worker that refuses a chunk made for
another digest reads them and names the nodes and options that differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import orjson

from gp_celery.config.stages import Fingerprints

if TYPE_CHECKING:
    from gp_celery.config import PipelineConfig

PREFIX: Final = "gp-celery:config:"
TTL_SECS: Final = 30 * 24 * 3600


def stage_fingerprints(config: PipelineConfig, queue: str) -> Fingerprints:
    return {node.id: config.fingerprints[node.id] for node in config.stage_members(queue)}


def publish_fingerprints(client: Any, config: PipelineConfig) -> None:
    """Store what every stage digest of ``config`` stands for (once; cheap to repeat)."""
    pipe = client.pipeline(transaction=False)
    for queue, digest in config.digests.items():
        pipe.set(PREFIX + digest, orjson.dumps(stage_fingerprints(config, queue)), ex=TTL_SECS)
    pipe.execute()


def fingerprints_of(client: Any, digest: str) -> Fingerprints | None:
    raw = client.get(PREFIX + digest)
    return None if raw is None else dict(orjson.loads(raw))
