"""SQS: moto's server (ThreadedMotoServer) on a free loopback port, a stand-in for AWS
that the official client (boto3) talks to. moto is a project of its own (not ours), so it
is a stand-in only in the sense that it is not AWS."""

from __future__ import annotations

import urllib.request
from typing import Any

from tests.conftest import free_port

REGION = "eu-central-1"
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


class MotoSqs:
    """moto's server on a free loopback port (``start()`` again after ``stop()``)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: Any = None
        self._client: Any = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        # moto keeps its queues per process, not per server: start empty.
        urllib.request.urlopen(f"{self.url}/moto-api/reset", data=b"", timeout=10).close()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def client(self) -> Any:
        """One boto3 client, made once (making one costs a good part of a second)."""
        if self._client is None:
            import boto3

            self._client = boto3.client(
                "sqs", region_name=REGION, endpoint_url=self.url, **CREDENTIALS
            )
        return self._client

    def queue(self, name: str = "logs", visibility_secs: int = 30) -> str:
        attributes = {"VisibilityTimeout": str(visibility_secs)}
        return str(self.client().create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])

    def send(self, url: str, *bodies: str) -> None:
        client = self.client()
        for start in range(0, len(bodies), 10):
            entries = [
                {"Id": str(number), "MessageBody": body}
                for number, body in enumerate(bodies[start : start + 10])
            ]
            assert not client.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")

    def waiting(self, url: str) -> tuple[int, int]:
        """Messages (visible, received and not yet deleted)."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        got = self.client().get_queue_attributes(QueueUrl=url, AttributeNames=names)
        return int(got["Attributes"][names[0]]), int(got["Attributes"][names[1]])
