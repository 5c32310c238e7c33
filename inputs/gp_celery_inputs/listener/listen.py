"""`gp-celery listen`: run a config's inputs and publish their batches to the broker."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gp_celery.config import PipelineConfig
from gp_celery.modules.base import Input
from gp_celery_inputs.listener.publisher import Publisher
from gp_celery_inputs.listener.runner import InputRunner

log = logging.getLogger(__name__)


def input_modules(config: PipelineConfig) -> dict[str, Input[Any]]:
    """Instances of the config's inputs only; workers build the rest."""
    modules: dict[str, Input[Any]] = {}
    for spec in config.nodes:
        if spec.module is not None and issubclass(spec.module, Input):
            assert spec.options is not None
            module = spec.module(spec.options, spec.id)
            module.setup()
            modules[spec.id] = module
    return modules


def warn_about_broker(app: Any) -> None:
    """Redis evicting keys loses queued batches; without persistence a restart does."""
    url = str(app.conf.broker_url)
    if not url.startswith(("redis", "rediss")):
        return
    try:
        with app.connection_for_write() as connection:
            client = connection.default_channel.client
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
            "batches under memory pressure. Set it to 'noeviction'.",
            policy,
        )
    if aof != "yes" and not save:
        log.warning(
            "Listener: the broker has no persistence (appendonly no, no save rules): "
            "a Redis restart loses every queued batch. Turn on appendonly."
        )


async def listen(config: PipelineConfig, check_broker: bool = True) -> Publisher:
    from gp_celery.app import app

    inputs = input_modules(config)
    if not inputs:
        raise ValueError(f"{config.file}: the configuration has no inputs to listen with")
    if check_broker:
        warn_about_broker(app)
    settings = config.settings
    queues = {node_id: config.queue_of(node_id) for node_id in inputs}
    later_stages = tuple(sorted({node.queue for node in config.nodes if node.queue}))
    publisher = Publisher(
        app,
        config.digest,
        queues,
        settings.high_water_batches,
        settings.low_water_batches,
        later_stages=later_stages,
    )
    runner = InputRunner(
        inputs,
        publisher.publish,
        settings.batch_size,
        settings.batch_ms,
        on_stop=publisher.stop_pausing,
        batch_bytes=settings.batch_bytes,
    )
    log.info(
        "Listener: %d inputs publishing to %s (config %s).",
        len(inputs),
        ", ".join(sorted(set(queues.values()))),
        config.digest[:12],
    )
    try:
        await runner.run()
    finally:
        publisher.close()
        for module in inputs.values():
            module.close()
        stats = publisher.stats
        log.info(
            "Listener: published %d events in %d batches (%d publish errors, paused %.1fs).",
            stats.events,
            stats.batches,
            stats.publish_errors,
            stats.paused_secs,
        )
    return publisher


def run_listener(config: PipelineConfig) -> Publisher:
    return asyncio.run(listen(config))
