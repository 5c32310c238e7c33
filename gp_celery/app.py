"""The Celery app: delivery settings set once, here.

At least once: tasks are acknowledged after they ran and rejected when their worker is
lost, so a chunk in flight on a killed worker is delivered again. Messages are msgpack;
workers accept msgpack and json only, never pickle. No result backend: nothing waits for a
result, and storing one per chunk would only load the broker.
"""

from __future__ import annotations

import os
from typing import Any, Final

import click
from celery import Celery, signals
from kombu.serialization import register

from gp_celery.broker.settings import BrokerSettings
from gp_celery.codec import pack, unpack
from gp_celery.config.stages import DEFAULT_QUEUE

SETTINGS: Final = BrokerSettings.from_env()
"""This process's broker settings, read once at start (GP_BROKER_URL, GP_REDIS_URL, ...).
A command-line process that got --broker passes its own to ``use_settings``."""


def register_msgpack() -> None:
    """Kombu's msgpack, but round-tripping text that inputs decoded with surrogateescape
    (binary stream data such as python-beaver's msgpack), which plain msgpack rejects."""
    register(  # the stubs say str; binary serializers take and give bytes
        "msgpack",
        pack,  # type: ignore[arg-type]
        unpack,  # type: ignore[arg-type]
        content_type="application/x-msgpack",
        content_encoding="binary",
    )


def broker_conf(settings: BrokerSettings) -> dict[str, Any]:
    return {
        "broker_url": settings.celery_broker_url(),
        # visibility_timeout and the restore sweep: Redis only. confirm_publish: RabbitMQ
        # only; a publish returns once the broker holds the chunk (else a broker error
        # loses it without a word, and the queue depth that backpressure reads lags).
        "broker_transport_options": {
            **settings.redis_transport_options(),
            "confirm_publish": True,
        },
    }


def make_app(settings: BrokerSettings) -> Celery:
    register_msgpack()
    app = Celery("gp_celery", include=["gp_celery.tasks"])
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
        worker_hijack_root_logger=True,
        worker_redirect_stdouts=False,  # StdOutSink writes to the real stdout
        worker_send_task_events=False,
        task_track_started=False,
        **broker_conf(settings),
    )
    app.user_options["preload"].add(
        click.Option(
            ["--gp-config"], default=None, help="gp-celery pipeline YAML (default: $GP_CONFIG)"
        )
    )
    app.user_options["preload"].add(
        click.Option(
            ["--gp-from-broker"],
            default=None,
            help="run the config pushed to Redis under this name (`gp-celery config push`), "
            "following new versions; wins over --gp-config (default: $GP_CONFIG_FROM_BROKER)",
        )
    )
    return app


def use_settings(app: Celery, settings: BrokerSettings) -> None:
    """Point an app at other broker settings (a --broker option, a private local broker)."""
    app.conf.update(**broker_conf(settings))


app: Final = make_app(SETTINGS)

_options: dict[str, Any] = {}


@signals.user_preload_options.connect
def _take_gp_config(options: dict[str, Any], **_: Any) -> None:
    """`celery -A gp_celery worker --gp-config FILE`: the config every process loads."""
    if options.get("gp_config"):
        _options["config"] = str(options["gp_config"])
    if options.get("gp_from_broker"):
        _options["from_broker"] = str(options["gp_from_broker"])


def from_broker() -> str | None:
    """--gp-from-broker NAME if the worker was started with it, else GP_CONFIG_FROM_BROKER."""
    return _options.get("from_broker") or os.environ.get("GP_CONFIG_FROM_BROKER")


def config_path() -> str | None:
    """--gp-config if the worker was started with it, else GP_CONFIG."""
    return _options.get("config") or os.environ.get("GP_CONFIG")
