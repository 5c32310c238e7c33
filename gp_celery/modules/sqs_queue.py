"""What the SQS input and SQSSink share: which queue, the credentials, and a boto3 client."""

from __future__ import annotations

from typing import Any, Final, Self

from pydantic import AliasChoices, Field, model_validator

from gp_celery.modules.base import Options

CONNECT_TIMEOUT_SECS: Final = 10


class SqsQueueOptions(Options):
    aws_access_key_id: str | None = None
    """AWS access key id (None: boto3 finds credentials itself: environment variables,
    ~/.aws, or the instance's role)."""
    aws_secret_access_key: str | None = None
    """AWS secret access key (set with aws_access_key_id)."""
    region: str = Field(min_length=1)
    """AWS region of the queue, e.g. 'eu-central-1'."""
    queue: str = Field(min_length=1, validation_alias=AliasChoices("queue", "queue_name"))
    """Name of the SQS queue (``queue_name`` is accepted too)."""
    endpoint_url: str | None = None
    """Another SQS endpoint than AWS's (a VPC endpoint, LocalStack, ElasticMQ)."""

    @model_validator(mode="after")
    def _both_keys_or_neither(self) -> Self:
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ValueError("set both 'aws_access_key_id' and 'aws_secret_access_key', or neither")
        return self


def sqs_client(options: SqsQueueOptions, read_timeout_secs: float) -> Any:
    """A boto3 SQS client that tries each call once: our callers retry, counted and logged
    (the input with its backoff, a sink through the runner), where botocore's own retries
    would be silent. Imported here, when a node starts: boto3 takes about half a second
    to import (measured here), which no other command should pay."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sqs",
        region_name=options.region,
        endpoint_url=options.endpoint_url,
        aws_access_key_id=options.aws_access_key_id,
        aws_secret_access_key=options.aws_secret_access_key,
        config=Config(
            retries={"total_max_attempts": 1},
            connect_timeout=CONNECT_TIMEOUT_SECS,
            read_timeout=read_timeout_secs,
        ),
    )
