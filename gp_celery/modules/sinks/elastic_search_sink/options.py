"""ElasticSearchSink options: GambolPutty's names and defaults, plus TLS and API keys."""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gp_celery.modules.base import Options
from gp_celery.modules.elasticsearch_nodes import Nodes, node_url
from gp_celery.modules.sinks.timed_template import check_timed_template, literal_text
from gp_celery.modules.types import Template

INDEX_NAME_FORBIDDEN = frozenset('\\/*?"<>| ,#:')
"""Characters Elasticsearch refuses in an index name."""


class ElasticSearchSinkOptions(Options):
    nodes: Nodes
    """Elasticsearch nodes: 'host', 'host:port' (port 9200 by default) or URLs."""
    action: Literal["index", "create", "update"] = "index"
    """index: write or overwrite by id; create: write once (an id already there is kept and
    counts as written); update: merge the event into the document with that id."""
    index_name: str = "gambolputty-%Y.%m.%d"
    """Index per event: strftime (UTC, at write time), then $(field); lower-cased."""
    doc_id: Template | None = Field(default="$(gambolputty.event_id)", validate_default=True)
    """Document id per event; the event id makes a redelivered batch overwrite, not
    duplicate. null: Elasticsearch makes ids (a redelivered batch is then stored twice)."""
    routing: str | None = None
    """Shard routing value per event: strftime (UTC), then $(field); empty: not sent."""
    format: Template | None = None
    """Send this template's rendering, which must be a JSON object, instead of the event."""
    doc_as_upsert: bool = False
    """With action 'update': create the document from the event when the id is new."""
    connection_type: Literal["urllib3", "requests"] = "urllib3"
    """HTTP library of the client ('requests' needs the requests package)."""
    http_auth: str | None = None
    """Basic authentication as 'user:password'."""
    api_key: str | None = None
    """API key: the encoded key, or 'id:api_key'."""
    use_ssl: bool = False
    """Talk HTTPS to nodes given without a scheme."""
    ca_certs: str | None = None
    """CA bundle (PEM) to verify the nodes' certificates; default: the system's."""
    verify_certs: bool = True
    """Verify the nodes' certificates and host names (false: only for tests)."""
    client_cert: str | None = None
    """Client certificate (PEM) for mutual TLS."""
    client_key: str | None = None
    """Private key (PEM) of client_cert, when not in the same file."""
    timeout_secs: float = Field(default=30, gt=0)
    """How long one bulk request may take before it fails (and is retried)."""
    sniff_on_start: bool = False
    """Ask the cluster for its other nodes when the client starts."""
    sniff_on_connection_fail: bool = False
    """Ask the cluster for its nodes again when one fails."""
    consistency: Literal["one", "quorum", "all"] = "quorum"
    """Shard copies that must be active: 'one' and 'all' are sent as
    wait_for_active_shards; 'quorum' sends nothing (the server's default, one copy)."""
    ttl: Any = None
    """Accepted for GambolPutty configs; ignored (Elasticsearch 5 removed _ttl)."""
    doc_type: Any = None
    """Accepted for LumberMill configs; ignored (Elasticsearch 8 has no mapping types)."""
    batch_size: int = Field(default=500, ge=1)
    """Most documents per bulk request; a larger batch is sent in several requests."""
    store_interval_in_secs: float = Field(default=5, ge=0)
    """Accepted for GambolPutty configs; every batch is written when it arrives."""
    backlog_size: int = Field(default=500, ge=1)
    """Accepted for GambolPutty configs; backpressure is the listener's job here."""

    @field_validator("index_name")
    @classmethod
    def _check_index_name(cls, index_name: str) -> str:
        if not index_name:
            raise ValueError("an index name is needed")
        check_timed_template(index_name)
        literal = literal_text(index_name)
        if bad := sorted(INDEX_NAME_FORBIDDEN & set(literal)):
            shown = " ".join(repr(char) for char in bad)
            raise ValueError(f"Elasticsearch refuses {shown} in index names")
        if literal[:1] in ("-", "_", "+"):
            raise ValueError("an index name must not start with '-', '_' or '+'")
        return index_name

    @field_validator("doc_id")
    @classmethod
    def _empty_doc_id_is_none(cls, doc_id: Template | None) -> Template | None:
        return None if doc_id is not None and doc_id.source == "" else doc_id

    @field_validator("routing")
    @classmethod
    def _check_routing(cls, routing: str | None) -> str | None:
        return None if routing is None else check_timed_template(routing)

    @field_validator("http_auth")
    @classmethod
    def _check_http_auth(cls, http_auth: str | None) -> str | None:
        if http_auth is not None and ":" not in http_auth:
            raise ValueError("expected 'user:password'")
        return http_auth

    @field_validator("connection_type", mode="before")
    @classmethod
    def _check_connection_type(cls, connection_type: Any) -> Any:
        if connection_type == "thrift":
            raise ValueError("'thrift' is gone from Elasticsearch (since 2.0); use 'urllib3'")
        if connection_type == "requests" and importlib.util.find_spec("requests") is None:
            raise ValueError("'requests' needs the requests package (pip install requests)")
        return connection_type

    @model_validator(mode="after")
    def _consistent(self) -> ElasticSearchSinkOptions:
        if self.http_auth is not None and self.api_key is not None:
            raise ValueError("set 'http_auth' or 'api_key', not both")
        if self.action == "update" and self.doc_id is None:
            raise ValueError("action 'update' needs a 'doc_id'")
        if self.doc_as_upsert and self.action != "update":
            raise ValueError("'doc_as_upsert' goes with action 'update'")
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("'client_key' needs 'client_cert'")
        tls = [name for name in ("ca_certs", "client_cert") if getattr(self, name) is not None]
        if tls and any(url.startswith("http:") for url in self.urls()):
            raise ValueError(f"'{tls[0]}' needs HTTPS: set 'use_ssl: true' or give https:// nodes")
        return self

    def urls(self) -> list[str]:
        return [node_url(node, self.use_ssl) for node in self.nodes]
