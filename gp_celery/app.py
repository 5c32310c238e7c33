"""The Celery app: delivery settings set once, here.

At least once: tasks are acknowledged after they ran and rejected when their worker is
lost, so a batch in flight on a killed worker is delivered again. Messages are msgpack;
workers accept msgpack and json only, never pickle. No result backend: nothing waits for a
result, and storing one per batch would only load the broker.
"""

from __future__ import annotations

import os
from typing import Any, Final

import click
from celery import Celery, signals
from kombu.serialization import register

from gp_celery.codec import pack, unpack
from gp_celery.config import DEFAULT_QUEUE

DEFAULT_BROKER: Final = "redis://localhost:6379/0"
VISIBILITY_TIMEOUT_SECS: Final = 300
"""Redis only: an unacknowledged batch returns to its queue after this long. A killed
worker's batches are therefore redelivered after up to five minutes; keep it well above the
slowest batch, or a slow batch is run twice. Override with GP_VISIBILITY_TIMEOUT."""


def broker_url() -> str:
    return os.environ.get("GP_BROKER_URL", DEFAULT_BROKER)


def visibility_timeout() -> int:
    return int(os.environ.get("GP_VISIBILITY_TIMEOUT", VISIBILITY_TIMEOUT_SECS))


def redis_transport_options() -> dict[str, int]:
    """Redis only. kombu looks for batches past their visibility timeout once at worker
    start, then every ``unacked_restore_interval`` x ``unacked_restore_throttle`` seconds
    (10 x 10 by default): a killed worker's batches would wait up to 100 s beyond the
    timeout. Sweep every timeout/4 seconds (at most 10), every time: one cheap ZRANGE."""
    timeout = visibility_timeout()
    return {
        "visibility_timeout": timeout,
        "unacked_restore_interval": max(1, min(10, timeout // 4)),
        "unacked_restore_throttle": 1,
    }


def register_msgpack() -> None:
    """Kombu's msgpack, but round-tripping text that inputs decoded with surrogateescape
    (binary TCP stream data such as python-beaver's msgpack), which plain msgpack rejects."""
    register(  # the stubs say str; binary serializers take and give bytes
        "msgpack",
        pack,  # type: ignore[arg-type]
        unpack,  # type: ignore[arg-type]
        content_type="application/x-msgpack",
        content_encoding="binary",
    )


def make_app() -> Celery:
    register_msgpack()
    app = Celery("gp_celery", broker=broker_url(), include=["gp_celery.tasks"])
    app.conf.update(
        task_serializer="msgpack",
        accept_content=["msgpack", "json"],
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_default_queue=DEFAULT_QUEUE,
        task_create_missing_queues=True,
        broker_connection_retry_on_startup=True,
        # visibility_timeout and the restore sweep: Redis only. confirm_publish: RabbitMQ
        # only; a publish returns once the broker holds the batch (else a broker error loses
        # it without a word, and the queue depth that backpressure reads lags behind).
        broker_transport_options={**redis_transport_options(), "confirm_publish": True},
        worker_hijack_root_logger=True,
        worker_redirect_stdouts=False,  # StdOutSink writes to the real stdout
        worker_send_task_events=False,
        task_track_started=False,
    )
    app.user_options["preload"].add(
        click.Option(
            ["--gp-config"], default=None, help="gp-celery pipeline YAML (default: $GP_CONFIG)"
        )
    )
    return app


app: Final = make_app()


@signals.user_preload_options.connect
def _take_gp_config(options: dict[str, Any], **_: Any) -> None:
    """`celery -A gp_celery worker --gp-config FILE` sets the config for every process."""
    if options.get("gp_config"):
        os.environ["GP_CONFIG"] = str(options["gp_config"])
