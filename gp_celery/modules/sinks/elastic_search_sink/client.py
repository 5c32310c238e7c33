"""The official client, made from the options, and what its exceptions mean for a retry.

Imported in ``setup()`` only: the elasticsearch package takes a while to import, and
``check`` or ``modules`` never need it.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import (
    ApiError,
    ConnectionError,
    ConnectionTimeout,
    Elasticsearch,
    SerializationError,
    SSLError,
    TransportError,
    UnsupportedProductError,
)

from gp_celery.modules.sinks.elastic_search_sink.options import ElasticSearchSinkOptions
from gp_celery.modules.sinks.elastic_search_sink.retry import is_retriable

ERRORS = (ApiError, TransportError)
"""Everything the client raises for a request that did not work."""


def make_client(options: ElasticSearchSinkOptions) -> Elasticsearch:
    """A client for the configured nodes. It connects on its first request, not here.

    The client itself retries only to fail over to another node after a connection error
    (``max_retries`` = nodes - 1, no status retries): backoff and retries of whole batches
    and of single items are the runner's, so that they are counted and logged in one place.
    """
    urls = options.urls()
    settings: dict[str, Any] = {
        "request_timeout": options.timeout_secs,
        "max_retries": len(urls) - 1,
        "retry_on_status": (),
        "retry_on_timeout": False,
        "node_class": options.connection_type,
        "sniff_on_start": options.sniff_on_start,
        "sniff_on_node_failure": options.sniff_on_connection_fail,
        "verify_certs": options.verify_certs,
    }
    if not options.verify_certs:
        settings["ssl_show_warn"] = False
    if options.http_auth is not None:
        user, _, password = options.http_auth.partition(":")
        settings["basic_auth"] = (user, password)
    if options.api_key is not None:
        key_id, colon, key = options.api_key.partition(":")
        settings["api_key"] = (key_id, key) if colon else options.api_key
    for name in ("ca_certs", "client_cert", "client_key"):
        if (value := getattr(options, name)) is not None:
            settings[name] = value
    return Elasticsearch(urls, **settings)


def error_outcome(error: Exception) -> tuple[str, bool]:
    """Why a whole bulk request failed, and whether sending it again can succeed.

    Connection trouble, timeouts and unreadable answers (a proxy's page, a cut-off body)
    are retried: document ids make a second write of the same batch harmless. A TLS
    failure (a wrong CA, an expired certificate) and a server that is not Elasticsearch
    need a person. HTTP statuses follow ``is_retriable``.
    """
    if isinstance(error, UnsupportedProductError):
        return f"not Elasticsearch: {error}", False
    if isinstance(error, ApiError):
        return f"{error.meta.status} {error.message}", is_retriable(error.meta.status)
    if isinstance(error, SSLError):
        return f"TLS: {error}", False
    if isinstance(error, (ConnectionError, ConnectionTimeout, SerializationError)):
        return f"{type(error).__name__}: {error}", True
    return f"{type(error).__name__}: {error}", True
