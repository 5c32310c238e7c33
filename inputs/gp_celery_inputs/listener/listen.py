"""`gp-celery listen`: run a config's inputs and publish their chunks to the broker.

A listener is a byte pump: its inputs cut what they receive at record boundaries, chunks
of about a MiB are stored in Redis and announced by one task message each; workers turn
them into events. It checks the broker before it takes any data (an unreachable broker or
a wrong password ends it at once, with a sentence saying which), sends first what an
earlier run spooled, and on a stop spools what the broker does not take in time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from gp_celery.broker.messages import Outbox
from gp_celery.broker.settings import BrokerSettings, mask
from gp_celery.config import PipelineConfig
from gp_celery.memory import keep_large_buffers
from gp_celery.modules.base import Input
from gp_celery.pipeline.node import build_node
from gp_celery.stats.flush import StatsFlusher, module_fields
from gp_celery.stats.keys import ProcessId, namespace
from gp_celery_inputs.listener.publisher import Publisher
from gp_celery_inputs.listener.runner import InputRunner
from gp_celery_inputs.listener.spool import Spool

log = logging.getLogger(__name__)


class BrokerUnavailableError(ConnectionError):
    """The broker cannot be used at start: unreachable, or it refused the password."""


def input_modules(config: PipelineConfig) -> dict[str, Input[Any]]:
    """Instances of the config's inputs only (set up); workers build the rest."""
    modules: dict[str, Input[Any]] = {}
    for spec in config.nodes:
        if spec.family == "input":
            module = build_node(config, spec).module
            assert isinstance(module, Input)
            modules[spec.id] = module
    return modules


def chunk_bytes_for(config: PipelineConfig) -> Any:
    def chunk_bytes(module: Input[Any]) -> int:
        own = getattr(module.options, "chunk_bytes", None)
        return own if isinstance(own, int) else config.settings.chunk_bytes

    return chunk_bytes


def check_broker(app: Any, settings: BrokerSettings) -> None:
    """Fail fast: connect to the broker (and the chunk store) once before taking data."""
    from gp_celery.broker.redis import check_reachable

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=5)
    except Exception as error:
        reason = str(error) or type(error).__name__
        verb = "refused its password" if _is_auth_error(error) else "cannot be reached"
        raise BrokerUnavailableError(
            f"the broker at {mask(settings.broker_url)} {verb} ({reason}); "
            "no data was taken. Check GP_BROKER_URL / --broker."
        ) from error
    if settings.store_url and settings.store_url != settings.broker_url:
        try:
            check_reachable(settings.store_url)
        except ConnectionError as error:
            raise BrokerUnavailableError(f"{error}; no data was taken (GP_REDIS_URL)") from error


def _is_auth_error(error: BaseException) -> bool:
    text = f"{type(error).__name__} {error}".upper()
    return any(word in text for word in ("AUTH", "PASSWORD", "ACCESS_REFUSED", "ACCESS REFUSED"))


def warn_about_broker(client: Any) -> None:
    """Redis evicting keys loses queued chunks; without persistence a restart does."""
    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
        aof = client.config_get("appendonly").get("appendonly")
        save = client.config_get("save").get("save")
    except Exception as error:  # noqa: BLE001 - CONFIG may be disabled; the check is advisory
        log.warning(
            "Listener: could not read the broker's settings (%s); make sure "
            "maxmemory-policy is noeviction and persistence is on.",
            error,
        )
        return
    if policy != "noeviction":
        log.warning(
            "Listener: the broker's maxmemory-policy is '%s': Redis may evict queued "
            "chunks under memory pressure. Set it to 'noeviction'.",
            policy,
        )
    if aof != "yes" and not save:
        log.warning(
            "Listener: the broker has no persistence (appendonly no, no save rules): "
            "a Redis restart loses every queued chunk. Turn on appendonly."
        )


def make_publisher(config: PipelineConfig, app: Any, settings: BrokerSettings) -> Publisher:
    from gp_celery.broker.redis import redis_client
    from gp_celery.broker.store import ChunkStore

    client = redis_client(settings.store_url) if settings.store_url else None
    store = ChunkStore(client, settings.chunk_ttl_secs) if client is not None else None
    queues, digests, later = routes_of(config)
    return Publisher(
        Outbox(app, store),
        queues,
        digests,
        config.settings,
        Spool(config.settings.spool_dir),
        later_stages=later,
        memory_client=client,
    )


def routes_of(config: PipelineConfig) -> tuple[dict[str, str], dict[str, str], tuple[str, ...]]:
    """Where a publisher sends each input's chunks, with which digests, and which later
    stages' queues it watches for backpressure."""
    inputs = [node.id for node in config.nodes if node.family == "input"]
    return (
        {node_id: config.queue_of(node_id) for node_id in inputs},
        dict(config.digests),
        tuple(sorted({node.queue for node in config.nodes if node.queue})),
    )


async def listen(
    config: PipelineConfig,
    settings: BrokerSettings,
    check: bool = True,
    watch: Callable[[], None] | None = None,
    *,
    metrics: tuple[str, int] | None = None,
    follow: tuple[str, int] | None = None,
) -> Publisher:
    """Run the inputs until they end or a signal stops them. ``watch`` is called about ten
    times a second; what it raises stops the listener (``run --workers`` watches its
    workers with it). ``metrics``: (address, port) to serve Prometheus metrics on.
    ``follow``: (name, version) of the pushed config ``config`` is: switch to newer ones."""
    from gp_celery.app import app, use_settings
    from gp_celery.broker.config_store import publish_fingerprints
    from gp_celery.broker.redis import redis_client

    use_settings(app, settings)
    if check:
        check_broker(app, settings)
        if settings.broker_is_redis:
            warn_about_broker(redis_client(settings.broker_url))
    keep_large_buffers()
    inputs = input_modules(config)
    if not inputs:
        raise ValueError(f"{config.file}: the configuration has no inputs to listen with")
    chunk_bytes = chunk_bytes_for(config)
    publisher = make_publisher(config, app, settings)
    if settings.store_url:
        publish_fingerprints(redis_client(settings.store_url), config)
    await asyncio.get_running_loop().run_in_executor(None, publisher.send_spooled)
    flusher = stats_flusher(
        config, settings, publisher, inputs, follow[1] if follow is not None else None
    )
    metrics_server = None
    if metrics is not None:
        from gp_celery.stats.metrics import ListenerCollector, registry_of, serve_metrics

        registry = registry_of([ListenerCollector(listener_totals(publisher, inputs))])
        metrics_server = serve_metrics(registry, *metrics)
        log.info(
            "Listener: metrics on http://%s:%d/metrics.", metrics[0], metrics_server.server_port
        )

    follower = follower_for(follow, config, settings, publisher, flusher)

    async def tick(now: float) -> None:
        if watch is not None:
            watch()
        if flusher is not None:
            flusher.flush_if_due(now)
        if follower is not None:
            follower.check_if_due(now)

    runner = InputRunner(
        inputs,
        publisher.publish,
        chunk_bytes,
        config.settings.batch_ms,
        on_tick=tick,
        on_stop=publisher.begin_stop,
        held=publisher.held_chunks,
    )
    queues = sorted(set(publisher.queues.values()))
    log.info(
        "Listener: %d inputs publishing to %s on %s (stages %s).",
        len(inputs),
        ", ".join(queues),
        mask(settings.broker_url),
        ", ".join(f"{queue} {config.digests[queue][:12]}" for queue in queues),
    )
    try:
        await runner.run()
    finally:
        publisher.close()
        for node_id, module in inputs.items():
            module.close()
            if counts := ", ".join(f"{k} {v}" for k, v in module.stats.counts.items() if v):
                log.info("%s: %s.", node_id, counts)  # e.g. datagrams the kernel dropped
        if flusher is not None:
            flusher.flush(stopped=True)
        if metrics_server is not None:
            metrics_server.shutdown()
        stats = publisher.stats
        log.info(
            "Listener: published %d chunks (%.1f MiB; %d publish errors, paused %.1fs, "
            "%d records spooled).",
            stats.chunks,
            stats.bytes / (1 << 20),
            stats.publish_errors,
            stats.paused_secs,
            stats.spooled_records,
        )
    return publisher


def follower_for(
    follow: tuple[str, int] | None,
    config: PipelineConfig,
    settings: BrokerSettings,
    publisher: Publisher,
    flusher: StatsFlusher | None,
) -> Any:
    """With --from-broker: what switches the publisher to a newer pushed version."""
    if follow is None or not settings.store_url:
        return None
    from gp_celery.broker.config_store import publish_fingerprints
    from gp_celery.broker.redis import redis_client
    from gp_celery_inputs.listener.follow import ConfigFollower

    client = redis_client(settings.store_url)

    def switch(new: PipelineConfig, version: int) -> None:
        # Whole new dicts: the publishing thread reads either the old or the new ones.
        publisher.queues, publisher.digests, publisher.later_stages = routes_of(new)
        publish_fingerprints(client, new)
        if flusher is not None:
            flusher.about["config_version"] = version

    name, version = follow
    return ConfigFollower(client, name, version, config, switch)


def listener_totals(
    publisher: Publisher, inputs: dict[str, Input[Any]]
) -> Callable[[], dict[str, float]]:
    """What this listener published and its inputs counted, as fields of its totals."""

    def totals() -> dict[str, float]:
        counted = {node: dict(module.stats.counts) for node, module in inputs.items()}
        return {**publisher.stats.fields(), **module_fields(counted)}

    return totals


def stats_flusher(
    config: PipelineConfig,
    settings: BrokerSettings,
    publisher: Publisher,
    inputs: dict[str, Input[Any]],
    version: int | None = None,
) -> StatsFlusher | None:
    """Writes what this listener published and its inputs counted (refused connections,
    drops the kernel saw) to Redis for `gp-celery stats`; None without Redis."""
    if not settings.store_url:
        return None
    from gp_celery.broker.redis import redis_client

    return StatsFlusher(
        redis_client(settings.store_url),
        namespace(config.file),
        ProcessId("listener"),
        listener_totals(publisher, inputs),
        about={"config": config.file, "inputs": sorted(inputs), "config_version": version},
        interval=settings.stats_secs,
    )


def run_listener(
    config: PipelineConfig,
    settings: BrokerSettings,
    metrics: tuple[str, int] | None = None,
    follow: tuple[str, int] | None = None,
) -> Publisher:
    return asyncio.run(listen(config, settings, metrics=metrics, follow=follow))
