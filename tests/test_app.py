"""The Celery app's delivery contract, read from the configured app itself."""

from __future__ import annotations

from celery.app.utils import find_app
from kombu.serialization import dumps, loads

from gp_celery.app import app


def test_celery_finds_the_app_on_the_package() -> None:
    """What `celery -A gp_celery` resolves, whichever of the package's `app` attribute
    (the Celery app, or the submodule an earlier import bound there) it finds."""
    assert find_app("gp_celery") is app


def test_delivery_settings_are_at_least_once_and_never_pickle() -> None:
    conf = app.conf
    assert conf.task_serializer == "msgpack"
    assert set(conf.accept_content) == {"msgpack", "json"}
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_ignore_result is True
    assert conf.broker_transport_options["visibility_timeout"] >= 60


def test_msgpack_round_trips_binary_stream_data() -> None:
    """TCP stream mode hands binary as surrogate-escaped text; a batch must survive."""
    payload = b"\x81\xa1a\xcc\xff\x00\xfe".decode("utf-8", "surrogateescape")
    content_type, encoding, body = dumps({"data": payload, "n": [1, 2.5, None]}, "msgpack")
    back = loads(body, content_type, encoding, accept=[content_type])
    assert back == {"data": payload, "n": [1, 2.5, None]}
    assert back["data"].encode("utf-8", "surrogateescape") == b"\x81\xa1a\xcc\xff\x00\xfe"
