"""The `brokers` option the Kafka input and KafkaSink share: one 'host:port' or a list."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


def _host_and_port(brokers: tuple[str, ...]) -> tuple[str, ...]:
    if not brokers:
        raise ValueError("expected at least one broker")
    for broker in brokers:
        host, colon, port = broker.rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(f"expected 'host:port', got {broker!r}")
    return brokers


KafkaBrokers = Annotated[
    tuple[str, ...], BeforeValidator(_one_or_many), AfterValidator(_host_and_port)
]
"""Bootstrap brokers as 'host:port', given as one string or a list."""
