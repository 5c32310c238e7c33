"""ElasticSearchSink: bulk-index events into Elasticsearch, one document per event."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from gp_celery.event import Batch, Event
from gp_celery.modules.base import Example, Failure, OptionWarning, Sink, State
from gp_celery.modules.registry import register
from gp_celery.modules.sinks.elastic_search_sink.bulk import BodyBuilder
from gp_celery.modules.sinks.elastic_search_sink.options import ElasticSearchSinkOptions
from gp_celery.modules.sinks.elastic_search_sink.retry import bulk_outcomes

__all__ = ["ElasticSearchSink", "ElasticSearchSinkOptions"]


@register
class ElasticSearchSink(Sink[ElasticSearchSinkOptions]):
    """Index events into Elasticsearch with the bulk API; the event id is the doc id.

    Each batch is sent as bulk requests of at most ``batch_size`` documents with the
    official client (8.x, which talks to Elasticsearch 8 and 9). The document is the whole
    event, its ``gambolputty`` metadata included, as in GambolPutty (drop fields with
    ModifyFields first). ``index_name`` and ``routing`` get strftime in UTC at write time,
    then $(field) from each event; the index name is lower-cased.

    The default ``doc_id`` is the event id, which a redelivered batch keeps (ids come from
    the chunk and the position in it), so a batch written twice after a worker died
    overwrites its documents instead of duplicating them; with ``action: create`` the
    second write finds them there (409) and counts as written. An event whose ``doc_id``
    names a missing field, or renders longer than 512 bytes, is not sent: it goes to the
    dead letters (GambolPutty indexed it under the raw template text, so all such events
    overwrote one document). ``doc_id: null`` lets Elasticsearch choose ids.

    Per item: 429 and 5xx (and 409 for ``update``) are retried by the runner with backoff;
    400, 404 and the other 4xx go to the dead letters with Elasticsearch's reason. A
    request that fails as a whole (connection refused or reset, a timeout, an unreadable
    answer, 429/5xx) is retried; bad credentials, a TLS failure or a server that is not
    Elasticsearch go to the dead letters. GambolPutty ignored per-item errors and retried
    failed batches forever from an unbounded buffer.

    Differences from GambolPutty, with reasons: the index is computed per event, not from
    the first event of the batch; ``routing`` may use $(field) too; ``_type`` is not sent
    (Elasticsearch 8 has none) and ``doc_type``/``ttl`` are accepted and ignored;
    ``consistency`` is sent as ``wait_for_active_shards`` ('quorum' is the server's
    default). The sink never holds events: a batch is written before the runner
    acknowledges it, so ``store_interval_in_secs`` and ``backlog_size`` have no effect. A
    node that cannot be reached at start does not stop the run (GambolPutty gave up after
    five tries): its batches are retried, then dead-lettered and replayable. With
    ``format``, its rendering must be a JSON object, which is sent as the document
    (GambolPutty crashed). New: ``action: create``, ``doc_as_upsert``, TLS
    (``ca_certs``, ``verify_certs``, ``client_cert``/``client_key``), ``api_key``,
    ``timeout_secs``.
    """

    aliases = ("output.ElasticSearch",)
    state: ClassVar[State] = "any"
    examples = [
        Example(
            options={
                "nodes": ["localhost:9200"],
                "index_name": "weblogs-$(host)",
                "doc_id": "$(request_id)",
            },
            given=[{"host": "WEB1", "request_id": "r-17", "data": "GET / 200"}],
            expect=[{"_index": "weblogs-web1", "_id": "r-17", "data": "GET / 200"}],
            note="Stores the event as document r-17 of the index weblogs-web1 (shown with "
            "its _index and _id).",
        ),
        Example(
            options={"nodes": "localhost", "action": "create"},
            given=[{"data": "GET / 200"}],
            expect=[{"data": "GET / 200"}],
            note="Stores the event in today's gambolputty-YYYY.MM.DD index (UTC) under its "
            "event id; writing it again leaves the document as it is.",
        ),
    ]

    @classmethod
    def option_warnings(cls, options: ElasticSearchSinkOptions) -> list[OptionWarning]:
        found = []
        if options.ttl is not None:
            found.append(
                OptionWarning(
                    ("ttl",),
                    "ignored: Elasticsearch 5 removed _ttl; expire old indices with an ILM "
                    "policy or by date in the index name",
                )
            )
        if options.doc_type is not None:
            found.append(
                OptionWarning(("doc_type",), "ignored: Elasticsearch 8 has no mapping types")
            )
        return found

    def setup(self) -> None:
        from gp_celery.modules.sinks.elastic_search_sink import client

        self._client = client.make_client(self.options)
        self._errors = client.ERRORS
        self._error_outcome = client.error_outcome
        self._bodies = BodyBuilder(self.options)
        self._params: dict[str, Any] = {}
        if self.options.consistency != "quorum":
            self._params["wait_for_active_shards"] = (
                "1" if self.options.consistency == "one" else "all"
            )

    def write(self, events: Batch) -> list[Failure]:
        now = time.time()
        size = self.options.batch_size
        failures: list[Failure] = []
        for start in range(0, len(events), size):
            failures += self._write_bulk(events[start : start + size], start, now)
        return failures

    def _write_bulk(self, events: Sequence[Event], offset: int, now: float) -> list[Failure]:
        body = self._bodies.build(events, now)
        failures = [Failure(offset + at, reason, False) for at, reason in body.refused]
        if not body.sent:
            return failures
        self.stats.incr("bulk_requests")
        try:
            # The client sends bytes as they are (its NDJSON serializer passes bytes
            # through; a bytearray it would not recognise); typed for dicts only.
            payload = bytes(body.payload)
            response = self._client.bulk(operations=payload, **self._params)  # type: ignore[arg-type]
        except self._errors as error:
            reason, retriable = self._error_outcome(error)
            self.warn_limited(
                "bulk",
                "a bulk request of %d documents failed (%s); %s.",
                len(body.sent),
                reason,
                "they are retried" if retriable else "they go to the dead letters",
            )
            return failures + [Failure(offset + at, reason, retriable) for at in body.sent]
        action = self.options.action
        for position, reason, retriable in bulk_outcomes(action, response.body, len(body.sent)):
            failures.append(Failure(offset + body.sent[position], reason, retriable))
        return failures

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
