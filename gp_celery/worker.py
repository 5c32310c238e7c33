"""What a worker process keeps between tasks: the config, its pipeline, the dead letters.

Built once per process (in ``worker_process_init`` for prefork children, else on the first
task), so a task only decodes its batch and runs it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import orjson

from gp_celery.config import PipelineConfig, load_config
from gp_celery.event import Batch
from gp_celery.pipeline import Pipeline
from gp_celery.pipeline.dead_letters import DeadLetterFile
from gp_celery.pipeline.graph import Crossing
from gp_celery.pipeline.sink_writer import DeadLetter

log = logging.getLogger(__name__)

DEAD_LETTER_KEY = "gp-celery:dead-letters"
PARKED_KEY = "gp-celery:parked"


def redis_store_url() -> str | None:
    """Where dead letters and parked batches go: GP_REDIS_URL, else a Redis broker."""
    from gp_celery.app import broker_url

    url = os.environ.get("GP_REDIS_URL") or broker_url()
    return url if url.startswith(("redis://", "rediss://", "unix://", "redis+socket://")) else None


def redis_client() -> Any:
    import redis

    url = redis_store_url()
    if url is None:
        raise RuntimeError("no Redis for dead letters: set GP_REDIS_URL (the broker is not Redis)")
    if url.startswith("redis+socket://"):
        return redis.Redis(unix_socket_path=url.removeprefix("redis+socket://"))
    return redis.Redis.from_url(url)


def push_to_list(key: str, records: list[dict[str, Any]]) -> None:
    """RPUSH JSON records onto a Redis list (dead letters, parked batches)."""
    client = redis_client()
    client.rpush(key, *(orjson.dumps(record, default=repr) for record in records))


def dead_letter_to_redis(node_id: str, events: Batch) -> None:
    push_to_list(DEAD_LETTER_KEY, [{"node": node_id, "event": event} for event in events])
    log.error(
        "%s: %d events could not be written; kept in Redis list '%s'.",
        node_id,
        len(events),
        DEAD_LETTER_KEY,
    )


@dataclass
class WorkerRuntime:
    config: PipelineConfig
    pipeline: Pipeline

    @classmethod
    def load(cls) -> WorkerRuntime:
        path = os.environ.get("GP_CONFIG")
        if not path:
            raise RuntimeError("no pipeline: start the worker with --gp-config FILE or GP_CONFIG")
        config = load_config(path)
        dead_letter: DeadLetter = dead_letter_to_redis
        if redis_store_url() is None:
            dead_letter = DeadLetterFile(config.settings.dead_letter_file)
            log.warning(
                "gp-celery worker: the broker is not Redis and GP_REDIS_URL is unset, "
                "so dead letters go to the local file %s.",
                dead_letter.path,
            )
        pipeline = Pipeline(config, dead_letter=dead_letter)
        pipeline.setup(include_inputs=False)
        log.info("gp-celery worker: loaded %s (config %s).", path, config.digest[:12])
        return cls(config, pipeline)

    @property
    def digest(self) -> str:
        return self.config.digest

    def run(self, entry: str, stage: str, events: Batch) -> Crossing:
        crossing = self.pipeline.run_batch(entry, events, stage)
        for node_id, batch in self.pipeline.tick_if_due(time.monotonic(), stage).items():
            crossing.setdefault(node_id, []).extend(batch)
        return crossing

    def queue_of(self, node_id: str) -> str:
        return self.config.queue_of(node_id)


_runtime: list[WorkerRuntime] = []


def runtime() -> WorkerRuntime:
    """This process's runtime, loaded on first use."""
    if not _runtime:
        _runtime.append(WorkerRuntime.load())
    return _runtime[0]


def close_runtime() -> None:
    if _runtime:
        _runtime.pop().pipeline.close()
