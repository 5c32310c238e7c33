"""Elasticsearch nodes as GambolPutty configs name them, for the sink and the input."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import PlainValidator, WithJsonSchema

DEFAULT_PORT = 9200


def node_url(node: str, use_ssl: bool) -> str:
    """'host', 'host:port' or a URL -> a URL with scheme and port (http, or https with
    use_ssl; port 9200 unless given). Raises ValueError for what is none of these."""
    text = node.strip()
    if not text:
        raise ValueError("a node is empty")
    if "://" not in text:
        text = f"{'https' if use_ssl else 'http'}://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port or DEFAULT_PORT
    except ValueError as error:
        raise ValueError(f"bad node {node!r}: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"bad node {node!r}: expected host, host:port or http(s)://host:port")
    if parts.username or parts.password:
        raise ValueError(f"node {node!r}: give credentials in 'http_auth' or 'api_key'")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}{parts.path.rstrip('/')}"


def _nodes(value: Any) -> tuple[str, ...]:
    """GambolPutty's string||list of nodes."""
    nodes = [value] if isinstance(value, str) else value
    if not isinstance(nodes, (list, tuple)) or not nodes:
        raise ValueError("expected a node ('host', 'host:port' or a URL) or a list of them")
    for node in nodes:
        if not isinstance(node, str):
            raise ValueError(f"expected a node such as 'localhost:9200', got {node!r}")
        node_url(node, use_ssl=False)
    return tuple(nodes)


Nodes = Annotated[
    tuple[str, ...],
    PlainValidator(_nodes),
    WithJsonSchema({"type": "array", "items": {"type": "string"}}),
]
