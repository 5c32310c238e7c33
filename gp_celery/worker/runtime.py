"""What a worker process keeps between tasks: the config, the stages it runs, its broker
access, and a timer that ticks the modules about once a second even when no chunk comes.

Built once per process (in ``worker_process_init`` for prefork children, else on the first
task). A worker builds only the stages of the queues it consumes (``-Q``), so geoip or an
Elasticsearch client load only where they run. Tasks and the timer take turns on one lock:
modules never run on two threads at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kombu.exceptions import KombuError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from gp_celery.broker.config_store import fingerprints_of, publish_fingerprints, stage_fingerprints
from gp_celery.broker.letters import FileLetters, LetterBox, RedisLetters
from gp_celery.broker.messages import Outbox
from gp_celery.broker.pushed import Pushed
from gp_celery.broker.redis import redis_client
from gp_celery.broker.settings import BrokerSettings
from gp_celery.broker.store import ChunkStore, Route, Taken, from_inline
from gp_celery.broker.sweep import Sweeper
from gp_celery.config import PipelineConfig, load_config
from gp_celery.config.stages import differences, split_state_problems
from gp_celery.event import Batch
from gp_celery.framing import Chunk
from gp_celery.modules.base import ModuleContext
from gp_celery.pipeline import Pipeline
from gp_celery.pipeline.graph import TICK_SECS, Crossing
from gp_celery.stats.flush import StageLatency, StatsFlusher, module_fields, node_fields
from gp_celery.stats.keys import ProcessId, namespace

log = logging.getLogger(__name__)


class WorkerConfigError(RuntimeError):
    """The worker cannot run this config (missing, invalid, or unsafe for its pool)."""


@dataclass
class WorkerPlan:
    """Decided once in the worker's main process, before its pool starts."""

    config_path: str
    queues: list[str] | None = None
    """The queues this worker consumes (-Q); None: all of the config's."""
    from_broker: str | None = None
    """The name of a config pushed to Redis to run (and follow) instead of a file."""


def load_worker_config(path: str | None, pushed: Pushed | None = None) -> PipelineConfig:
    from gp_celery.config import ConfigError
    from gp_celery.pipeline.graph import PlannedModuleError, refuse_planned

    if not path and pushed is None:
        raise WorkerConfigError(
            "no pipeline: start the worker with --gp-config FILE or set GP_CONFIG"
        )
    try:
        config = pushed.config("worker") if pushed else load_config(str(path), role="worker")
        refuse_planned(config)
    except ConfigError as error:
        where = f"version {pushed.version} of {pushed.name}" if pushed else path
        raise WorkerConfigError(f"{where} is not valid:\n{error}") from None
    except PlannedModuleError as error:
        raise WorkerConfigError(str(error)) from None
    problems = split_state_problems(config)
    if problems:
        raise WorkerConfigError("\n".join(str(problem) for problem in problems))
    return config


def from_broker_client(settings: BrokerSettings) -> Any:
    """The Redis that pushed configs live in, for --gp-from-broker."""
    if not settings.store_url:
        raise WorkerConfigError("--gp-from-broker needs Redis (GP_REDIS_URL)")
    return redis_client(settings.store_url)


def pushed_config(name: str, client: Any, digest: str | None = None) -> Pushed:
    """The current version of a pushed config, or the version a stage digest belongs to."""
    from gp_celery.broker.pushed import current, version_for_digest

    found = version_for_digest(client, name, digest) if digest else current(client, name)
    if found is None:
        what = f"no version with stage digest {digest[:12]}" if digest else "nothing pushed"
        raise WorkerConfigError(f"config '{name}' in Redis: {what} (gp-celery config push)")
    return found


def check_single_consumers(config: PipelineConfig, queues: list[str], concurrency: int) -> None:
    """A module whose state must see every event in one process cannot run in a pool."""
    single = sorted(
        {
            node.label
            for queue in queues
            for node in config.stage_members(queue)
            if node.module is not None and node.module.state == "single"
        }
    )
    if single and concurrency > 1:
        raise WorkerConfigError(
            f"{', '.join(single)} must see every event in one process, and this worker "
            f"runs {concurrency}: serve their queue with --concurrency 1"
        )


@dataclass
class WorkerRuntime:
    config: PipelineConfig
    settings: BrokerSettings
    pipeline: Pipeline
    stages: list[str]
    store: ChunkStore | None
    outbox: Outbox
    sweeper: Sweeper | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    _timer: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _unreachable: bool = False
    """The last tick could not reach Redis (warned once, until it can again)."""
    latency: StageLatency = field(default_factory=StageLatency)
    flusher: StatsFlusher | None = None
    """Writes this process's totals to Redis for `gp-celery stats` (None without Redis)."""
    version: int | None = None
    """The version of the pushed config it runs (None: a config file)."""

    @classmethod
    def load(
        cls, plan: WorkerPlan, settings: BrokerSettings, app: Any, pushed: Pushed | None = None
    ) -> WorkerRuntime:
        """A runtime for the plan's config file, or for ``pushed`` (a version in Redis)."""
        client = redis_client(settings.store_url) if settings.store_url else None
        if pushed is None and plan.from_broker:
            pushed = pushed_config(plan.from_broker, from_broker_client(settings))
        config = load_worker_config(plan.config_path, pushed)
        stages = plan.queues or config.stage_queues
        letters: LetterBox
        if client is not None:
            letters = RedisLetters(client)
        else:
            letters = FileLetters(config.settings.dead_letter_file)
            log.warning(
                "gp-celery worker: the broker is not Redis and GP_REDIS_URL is unset, "
                "so dead letters go to the local file %s.",
                config.settings.dead_letter_file,
            )
        members = [node for node in config.order if set(config.stages[node.id]) & set(stages)]
        context = ModuleContext(redis=client, process=f"{socket.gethostname()}:{os.getpid()}")
        pipeline = Pipeline(config, members, letters=letters, context=context, with_inputs=False)
        store = ChunkStore(client, settings.chunk_ttl_secs) if client is not None else None
        outbox = Outbox(app, store)
        sweeper = None
        if client is not None and store is not None and settings.broker_is_redis:
            sweeper = Sweeper(client, store, outbox, settings.sweep_secs, settings.sweep_grace_secs)
            try:
                publish_fingerprints(client, config)
            except RedisError as error:  # only used to explain a refusal; must not stop us
                log.warning(
                    "gp-celery worker: could not store the config's fingerprints (%s).", error
                )
        log.info(
            "gp-celery worker: loaded %s; stages %s; runs %s.",
            plan.config_path,
            ", ".join(f"{queue} {config.digests.get(queue, '?')[:12]}" for queue in stages),
            ", ".join(node.label for node in members if node.family != "input"),
        )
        built = cls(config, settings, pipeline, stages, store, outbox, sweeper)
        built.version = pushed.version if pushed else None
        if client is not None:
            built.flusher = StatsFlusher(
                client,
                namespace(config.file),
                ProcessId("worker"),
                built.totals,
                about={
                    "config": f"{pushed.name} in Redis" if pushed else plan.config_path,
                    "config_version": built.version,
                    "stages": {queue: config.digests.get(queue, "") for queue in stages},
                },
                interval=settings.stats_secs,
            )
        return built

    def totals(self) -> dict[str, float]:
        """This process's running totals, as `gp-celery stats` adds them up."""
        with self.lock:
            pipeline = self.pipeline
            modules = {
                node.id: dict(node.module.stats.counts)
                for node in pipeline.order
                if node.module is not None
            }
            return {
                **node_fields({node.id: node.counters.as_dict() for node in pipeline.order}),
                **module_fields(modules),
                **self.latency.fields(),
            }

    @property
    def letters(self) -> LetterBox:
        return self.pipeline.letters

    # -- tasks -------------------------------------------------------------------------------

    def take(self, payload: str | dict[str, Any]) -> Taken:
        if isinstance(payload, dict):
            return from_inline(payload)
        if self.store is None:
            raise WorkerConfigError(f"a task carries key {payload} but there is no Redis store")
        return self.store.take(payload)

    def digest_of(self, queue: str) -> str:
        return self.config.digests.get(queue, "")

    def what_differs(self, queue: str, digest: str) -> str:
        """Which nodes and options differ between this worker's stage and ``digest``'s."""
        client = self.store.client if self.store is not None else None
        theirs = fingerprints_of(client, digest) if client is not None else None
        if theirs is None:
            return "what differs is unknown (its config was never stored in Redis)"
        mine = stage_fingerprints(self.config, queue)
        found = differences(mine, theirs, list(mine))
        return "; ".join(found) or "no node or option differs (the stages' nodes moved)"

    def run(self, entry: str, queue: str, taken: Taken) -> Crossing:
        with self.lock:
            started = time.perf_counter()
            try:
                if taken.chunk is not None:
                    return self.pipeline.run_chunk(taken.chunk, queue)
                return self.pipeline.run_batch(entry, taken.events or [], queue)
            finally:
                self.latency.observe(queue, time.perf_counter() - started)

    def hand_on(self, crossing: Crossing) -> None:
        """Send events that crossed into another stage as one batch per node."""
        for node_id, batch in crossing.items():
            queue = self.config.queue_of(node_id)
            self.outbox.send_batch(batch, node_id, queue, self.digest_of(queue))

    def done(self, route: Route | None) -> None:
        if route is not None and self.store is not None:
            self.store.done(route)

    def send_parts(self, parts: list[Chunk] | list[Batch], entry: str, queue: str) -> None:
        digest = self.digest_of(queue)
        for part in parts:
            if isinstance(part, Chunk):
                self.outbox.send_chunk(part, queue, digest)
            else:
                self.outbox.send_batch(part, entry, queue, digest)

    # -- the timer ---------------------------------------------------------------------------

    def start_timer(self) -> None:
        if self._timer is None:
            self._timer = threading.Thread(target=self._tick_forever, name="gp-timer", daemon=True)
            self._timer.start()

    def _tick_forever(self) -> None:
        while not self._stopping.wait(TICK_SECS):
            try:
                self.tick()
                self._unreachable = False
            except RedisConnectionError as error:  # Celery's consumer says so too, and retries
                if not self._unreachable:
                    log.warning("gp-celery worker: the periodic tick cannot reach Redis: %s", error)
                self._unreachable = True
            except Exception:
                log.exception("gp-celery worker: the periodic tick failed; it runs again.")

    def tick(self) -> None:
        """Modules' periodic work (flushes, idle files, stats), then the sweep."""
        with self.lock:
            # The clock is read once the lock is held: a batch may have held it for seconds,
            # and a stale "now" would let a module count into an interval that another
            # process has already reported (fleet-wide SimpleStats, Statistics, Metrics).
            now = time.monotonic()
            crossing = self.pipeline.tick_if_due(now, self.stages[0] if self.stages else None)
        if crossing:
            self.hand_on(crossing)
        if self.sweeper is not None:
            self.sweeper.sweep_if_due(now)
        if self.flusher is not None:
            self.flusher.flush_if_due(now)

    def close(self) -> None:
        self._stopping.set()
        with self.lock:
            crossing = self.pipeline.tick(time.monotonic(), final=True)
            if crossing:  # what modules held (MergeEvent's buffers) goes on to its stage
                try:
                    self.hand_on(crossing)
                except (RedisError, OSError, KombuError) as error:
                    held = sum(len(batch) for batch in crossing.values())
                    log.warning(
                        "gp-celery worker: could not hand on %d events modules held at "
                        "shutdown (%s); they are lost.",
                        held,
                        error,
                    )
            self.pipeline.close()
        if self.flusher is not None:
            self.flusher.flush(stopped=True)
