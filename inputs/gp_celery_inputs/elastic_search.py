"""ElasticSearch: read the documents a query finds, page by page (PIT + search_after)."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any, Final, Literal

from pydantic import Field, field_validator

from gp_celery.codec import pack
from gp_celery.event import ERRORS, META, MISSING, Event, field_path
from gp_celery.framing import Framing, Piece
from gp_celery.modules.base import Emit, Example, Input, Options, OptionWarning
from gp_celery.modules.elasticsearch_nodes import Nodes, node_url
from gp_celery.modules.registry import register

KEEP_ALIVE: Final = "5m"
"""How long Elasticsearch keeps a point in time between two pages (backpressure may make
the pipeline take a while with one)."""
RETRY_SECS: Final = 5.0
"""Wait before trying again after a failed pass when query_interval_in_secs is 0."""
SET_BY_THE_INPUT: Final = ("pit", "search_after", "from", "scroll")


class ElasticSearchOptions(Options):
    nodes: Nodes
    """Elasticsearch nodes: 'host', 'host:port' (port 9200 by default) or URLs."""
    query: dict[str, Any] = Field(default_factory=lambda: {"query": {"match_all": {}}})
    """The search request body, as JSON text (as GambolPutty wrote it) or a mapping: its
    'query', and 'sort' or '_source' if wanted; 'size' is replaced by batch_size."""
    index_name: str = Field("gambolputty-%Y.%m.%d", min_length=1)
    """Index, alias or pattern to search ('logs-*', 'a,b'); strftime (UTC) per pass."""
    field_mappings: Literal["all"] | list[str] | dict[str, str] = "all"
    """'all': the hit's _source is the event; a list: only these fields (dotted paths);
    a dict: field -> new name. '_id' and '_index' name the hit's own."""
    batch_size: int = Field(1000, ge=1, le=10000)
    """Documents per page (per search request)."""
    query_interval_in_secs: float = Field(5, ge=0)
    """Seconds between passes; each pass runs the whole query again. 0: one pass, then
    the input ends (as LumberMill's input did)."""
    search_type: Literal["normal", "scan", "scroll"] = "normal"
    """Accepted for old configs and ignored: every pass pages with a point in time."""
    http_auth: str | None = None
    """Basic authentication as 'user:password'."""
    use_ssl: bool = False
    """Talk HTTPS to nodes given without a scheme."""
    ca_certs: str | None = None
    """CA bundle (PEM) to verify the nodes' certificates; default: the system's."""
    connection_type: Literal["urllib3", "requests"] = "urllib3"
    """HTTP library of the client ('requests' needs the requests package)."""
    read_timeout: float = Field(10, gt=0)
    """Seconds one request may take."""
    sniff_on_start: bool = False
    """Ask the cluster for its other nodes when the client starts."""
    sniff_on_connection_fail: bool = False
    """Ask the cluster for its nodes again when one fails."""

    @field_validator("query", mode="before")
    @classmethod
    def _json_object(cls, query: Any) -> Any:
        if isinstance(query, str):
            try:
                query = json.loads(query)
            except ValueError as error:
                raise ValueError(f"the query is not JSON: {error}") from None
        if not isinstance(query, dict):
            raise ValueError('the query must be a JSON object such as {"query": {...}}')
        if taken := [key for key in SET_BY_THE_INPUT if key in query]:
            raise ValueError(f"'{taken[0]}' is set by the input; leave it out of the query")
        return query

    @field_validator("http_auth")
    @classmethod
    def _user_and_password(cls, http_auth: str | None) -> str | None:
        if http_auth is not None and ":" not in http_auth:
            raise ValueError("expected 'user:password'")
        return http_auth

    @field_validator("connection_type")
    @classmethod
    def _installed(cls, connection_type: str) -> str:
        if connection_type == "requests" and importlib.util.find_spec("requests") is None:
            raise ValueError("'requests' needs the requests package (pip install requests)")
        return connection_type

    def urls(self) -> list[str]:
        return [node_url(node, self.use_ssl) for node in self.nodes]


@register
class ElasticSearch(Input[ElasticSearchOptions]):
    """Read what an Elasticsearch query finds; each hit's _source becomes an event.

    Each pass opens a point in time on ``index_name`` and pages through the hits in
    ``batch_size`` pages with ``search_after`` (sorted by the query's ``sort``, else by
    score and then index order), so every document of the pass is read once, in order,
    however long the pipeline takes. The pass repeats every ``query_interval_in_secs``
    (the whole query again, as in GambolPutty: a document still matched is read again);
    with 0 the input ends after one pass (as LumberMill's did). A pass that fails (an
    index that does not exist yet, nodes down) is logged and run again, whole, at the
    next interval (what it had sent is sent again: at least once). ``field_mappings``
    picks or renames fields; the document's fields become the event's (``data`` is ''
    when it has none) and ``received_from`` is the hit's index. Differences:
    GambolPutty's scan/scroll and LumberMill's from/size paging are replaced by PIT +
    search_after (scroll is deprecated; from/size stops at 10,000 hits); LumberMill also
    copied ``_id``, ``_index`` and ``_score`` into every event (name ``_id`` or
    ``_index`` in field_mappings to get them). A document msgpack cannot carry (an
    integer beyond 64 bits) arrives as JSON text in ``data``, tagged.
    State: none; run one listener per query, or each repeats it.
    """

    aliases = ("input.ElasticSearch",)
    examples = [
        Example(
            options={
                "nodes": ["localhost:9200"],
                "index_name": "web",
                "field_mappings": {"message": "data", "host": "host"},
                "query_interval_in_secs": 0,
            },
            given=[
                {"message": "GET / 200", "host": "web1", "bytes": 512},
                {"message": "GET /x 404", "host": "web2", "bytes": 0},
            ],
            expect=[{"data": "GET / 200", "host": "web1"}, {"data": "GET /x 404", "host": "web2"}],
            note="The documents of the index 'web' (given), read once; message renamed to data.",
        ),
    ]

    def default_framing(self) -> Framing:
        return Framing(kind="events")

    @classmethod
    def option_warnings(cls, options: ElasticSearchOptions) -> list[OptionWarning]:
        if options.search_type != "normal":
            reason = "ignored: every pass pages with a point in time and search_after"
            return [OptionWarning(("search_type",), reason)]
        return []

    def _client(self) -> Any:
        from elasticsearch import Elasticsearch

        options = self.options
        settings: dict[str, Any] = {
            "request_timeout": options.read_timeout,
            "node_class": options.connection_type,
            "sniff_on_start": options.sniff_on_start,
            "sniff_on_node_failure": options.sniff_on_connection_fail,
        }
        if options.http_auth is not None:
            user, _, password = options.http_auth.partition(":")
            settings["basic_auth"] = (user, password)
        if options.ca_certs is not None:
            settings["ca_certs"] = options.ca_certs
        return Elasticsearch(options.urls(), **settings)

    async def serve(self, emit: Emit) -> None:
        options = self.options
        interval = options.query_interval_in_secs
        self.log.info(
            "%s: searching %s on %s %s.",
            self.label,
            options.index_name,
            ", ".join(options.urls()),
            f"every {interval:g}s" if interval else "once",
        )
        client = await asyncio.to_thread(self._client)
        try:
            while not await self._read_pass(client, emit) or interval:
                await asyncio.sleep(interval or RETRY_SECS)
        finally:
            client.close()

    async def _read_pass(self, client: Any, emit: Emit) -> bool:
        """Page through every hit of the query once; False when the pass failed."""
        from elasticsearch import ApiError, TransportError

        index = time.strftime(self.options.index_name, time.gmtime()).lower()
        read = 0
        pit: list[str] = []
        """The newest id of the point in time: every answer may bring a new one."""
        try:
            opened = await asyncio.to_thread(
                client.open_point_in_time, index=index, keep_alive=KEEP_ALIVE
            )
            pit.append(opened["id"])
            async for hits in self._pages(client, pit):
                await emit(self._pieces(hits))
                read += len(hits)
        except (ApiError, TransportError) as error:
            reason = _describe(error) if isinstance(error, ApiError) else error
            again = self.options.query_interval_in_secs or RETRY_SECS
            self.warn_limited(
                "search",
                "searching '%s' failed after %d documents (%s); the pass starts over in %gs.",
                index,
                read,
                reason,
                again,
            )
            return False
        finally:
            if pit:
                await self._close_pit(client, pit[0])
        self.log.info("%s: read %d documents from '%s'.", self.label, read, index)
        return True

    async def _pages(self, client: Any, pit: list[str]) -> AsyncIterator[list[dict[str, Any]]]:
        """The hits of the point in time ``pit[0]``, a page at a time (``pit[0]`` follows
        the id each answer brings)."""
        size = self.options.batch_size
        after: list[Any] | None = None
        while True:
            point = {"id": pit[0], "keep_alive": KEEP_ALIVE}
            body = {**self.options.query, "size": size, "pit": point}
            if after is not None:
                body["search_after"] = after
            response = await asyncio.to_thread(client.search, body=body)
            pit[0] = response.get("pit_id", pit[0])
            hits = response["hits"]["hits"]
            if hits:
                yield hits
                after = hits[-1]["sort"]
            if len(hits) < size:
                return

    async def _close_pit(self, client: Any, pit_id: str) -> None:
        from elasticsearch import ApiError, TransportError

        try:
            await asyncio.to_thread(client.close_point_in_time, id=pit_id)
        except (ApiError, TransportError) as error:  # it expires by itself
            self.log.debug("%s: closing a point in time failed: %s", self.label, error)

    def _pieces(self, hits: list[dict[str, Any]]) -> list[Piece]:
        """One piece per run of hits from the same index, each document packed."""
        pieces = []
        for index, group in itertools.groupby(hits, key=lambda hit: str(hit.get("_index"))):
            records = [self._packed(hit) for hit in group]
            pieces.append(Piece(index, b"".join(records), tuple(map(len, records))))
        return pieces

    def _packed(self, hit: dict[str, Any]) -> bytes:
        document = self._mapped(hit)
        try:
            return pack(document)
        except (TypeError, ValueError, OverflowError) as error:
            self.stats.incr("unencodable_documents")
            reason = f"document not encodable ({error}); its JSON is in data"
            text = json.dumps(document, default=str, ensure_ascii=False)
            return pack({"data": text, META: {ERRORS: [{"node": self.node_id, "reason": reason}]}})

    def _mapped(self, hit: dict[str, Any]) -> Event:
        source = hit.get("_source")
        source = source if isinstance(source, dict) else {}
        mappings = self.options.field_mappings
        if mappings == "all":
            return source
        view = {**source, "_id": hit.get("_id"), "_index": hit.get("_index")}
        pairs = mappings.items() if isinstance(mappings, dict) else [(f, f) for f in mappings]
        event: Event = {}
        for name, target in pairs:
            value = field_path(name).get(view)
            if value is not MISSING:
                field_path(target).set(event, value)
        return event


def _describe(error: Any) -> str:
    """An ApiError as Elasticsearch put it: status, error type and reason."""
    body = error.body if isinstance(error.body, dict) else {}
    cause = body.get("error")
    reason = cause.get("reason") if isinstance(cause, dict) else None
    return f"{error.meta.status} {error.message}" + (f": {reason}" if reason else "")
