"""XPathParser: an XPath query over an XML document in a field, parsed safely."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from pydantic import Field, field_validator, model_validator

from gp_celery.event import MISSING, Batch, Event, FieldPath, field_path
from gp_celery.modules.base import Example, Options, Parser
from gp_celery.modules.key_values import KeyedCache, StoreId, open_store
from gp_celery.modules.parsers.binary import as_bytes
from gp_celery.modules.registry import register
from gp_celery.modules.types import Template

if TYPE_CHECKING:
    from lxml import etree

MIB: Final = 1024 * 1024
QUERY_CACHE: Final = 256
"""Compiled queries kept per process when the query is templated."""


class XPathParserOptions(Options):
    source_field: Template
    """Required. Field holding the XML document; may be a template, e.g. '$(kind)_xml'."""
    target_field: Template = Field(default="gambolputty_xpath", validate_default=True)
    """Where the result goes (default 'gambolputty_xpath'); may be a template."""
    query: Template
    """Required. The XPath expression; may be a template."""
    max_document_bytes: int = Field(default=4 * MIB, gt=0)
    """Larger documents are tagged, not parsed (default 4 MiB)."""
    redis_store: StoreId | None = None
    """Id of a RedisStore (or KeyValueStore/Cache) node to cache results in."""
    redis_key: Template | None = None
    """The cache key per event, e.g. '$(document_id)'; required with redis_store."""
    redis_ttl: int = Field(default=60, ge=1)
    """Seconds a cached result is kept."""

    @model_validator(mode="after")
    def _key_with_store(self) -> XPathParserOptions:
        if self.redis_store is not None and self.redis_key is None:
            raise ValueError("'redis_store' needs 'redis_key' (the cache key per event)")
        return self

    @field_validator("query")
    @classmethod
    def _constant_query_compiles(cls, query: Template) -> Template:
        if query.is_constant:
            from lxml import etree

            try:
                etree.XPath(query.render({}))
            except etree.XPathSyntaxError as error:
                raise ValueError(f"bad XPath query: {error}") from None
        return query


class DocumentError(ValueError):
    """A document that is not parsed or queried; the message reads after the field name."""


@register
class XPathParser(Parser[XPathParserOptions]):
    """Run an XPath query over an XML document in a field; write what it finds.

    The document is parsed with lxml without loading DTDs, fetching anything from the
    network or files, or expanding entities, and with libxml2's size limits on. A document
    that declares entities or refers to an external DTD is refused (tagged), so neither a
    billion-laughs document nor an external entity (``file://``, ``http://``) is ever
    expanded or fetched. Documents over ``max_document_bytes`` are tagged unparsed.

    A list result is written as a list: elements as their XML text, text and attribute
    results as strings; a number, boolean or string result as it is. An empty result
    (empty list or string) writes nothing, as in GambolPutty. A missing source field (or
    a template whose fields are missing) leaves the event unchanged. XML that does not
    parse, a query that fails on the document, or a value that is not text or bytes is
    tagged (GambolPutty logged a warning and passed the event on untagged).

    GambolPutty decoded the document as UTF-8 and dropped every non-ASCII character;
    here bytes go to the parser as they are (it honours the encoding declaration) and text
    is read as UTF-8, so non-ASCII characters survive.

    With ``redis_store`` (the id of a RedisStore node) results are cached there under the
    rendered ``redis_key`` for ``redis_ttl`` seconds, so every process of a fleet shares
    them: a batch reads its keys in one round trip and writes its new results in another.
    An event whose key has a result is not parsed. Empty results are cached too; failures
    are not. If the store does not answer, every event is parsed (a warning says so).
    """

    aliases = ("parser.XPath",)
    examples = [
        Example(
            options={
                "source_field": "agora_product_xml",
                "query": '//Item[@Type="Book"]/Title/text()',
                "target_field": "book_title",
            },
            given=[
                {
                    "agora_product_xml": '<Items><Item Type="Book"><Title>The Meaning of '
                    'Liff</Title></Item><Item Type="CD"><Title>Spam</Title></Item></Items>'
                }
            ],
            expect=[{"book_title": ["The Meaning of Liff"]}],
        ),
        Example(
            options={"source_field": "xml", "query": "count(//line)"},
            given=[{"xml": "<sketch><line/><line/><line/></sketch>"}],
            expect=[{"gambolputty_xpath": 3.0}],
            note="A number result is written as a number.",
        ),
    ]

    def setup(self) -> None:
        from lxml import etree

        self._etree = etree
        self._parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
        )
        self._cache: KeyedCache | None = None
        options = self.options
        if options.redis_store and options.redis_store.settings and options.redis_key:
            store = open_store(options.redis_store.settings)
            self._cache = KeyedCache(store, options.redis_key, options.redis_ttl, self.warn_limited)
        query = self.options.query
        if query.is_constant:
            compiled = etree.XPath(query.render({}))
            self._query: Callable[[str], etree.XPath] = lambda _text: compiled
        else:
            self._query = lru_cache(maxsize=QUERY_CACHE)(etree.XPath)

    def process(self, events: Batch) -> Batch:
        cache = self._cache
        if cache is None:
            for event in events:
                self._parse(event)
            return events
        for event, (key, hit, cached) in zip(events, cache.read(events), strict=True):
            if hit:
                self._store(event, cached)
                continue
            parsed, found = self._parse(event)
            if parsed:
                cache.remember(key, found)
        cache.write()
        return events

    def _parse(self, event: Event) -> tuple[bool, Any]:
        """Query one event's document and store the result: (whether a result was found
        and stored, even an empty one; the result)."""
        options = self.options
        source = _path(options.source_field, event)
        if source is None:  # a field the template names is missing
            return False, None
        if isinstance(source, str):
            self.fail(event, f"source_field renders {source!r}, not a field name")
            return False, None
        value = source.get(event)
        if value is MISSING:
            return False, None
        try:
            found = self._run(event, value)
        except DocumentError as error:
            self.fail(event, f"'{source.dotted}' {error}")
            return False, None
        return self._store(event, found), found

    def _store(self, event: Event, found: Any) -> bool:
        if found is None:
            return True
        target = _path(self.options.target_field, event)
        if not isinstance(target, FieldPath):
            self.fail(event, f"target_field renders {target!r}, not a field name")
            return False
        target.set(event, found)
        return True

    def _run(self, event: Event, value: Any) -> Any:
        """The query's result on the document in ``value``; None when it found nothing."""
        etree = self._etree
        try:
            document = as_bytes(value, "XML text")
        except ValueError as error:
            raise DocumentError(str(error)) from None
        limit = self.options.max_document_bytes
        if len(document) > limit:
            raise DocumentError(f"is over max_document_bytes={limit}")
        try:
            root = etree.fromstring(document, self._parser)
        except etree.XMLSyntaxError as error:
            raise DocumentError(f"is not well-formed XML: {error}") from None
        if root is None:
            raise DocumentError("holds no XML element")
        _check_dtd(root.getroottree().docinfo)
        text = self.options.query.render(event)
        try:
            result = self._query(text)(root)
        except (etree.XPathSyntaxError, etree.XPathEvalError) as error:
            raise DocumentError(f"could not be queried with {text!r}: {error}") from None
        return _plain(result, etree)


def _check_dtd(docinfo: etree.DocInfo) -> None:
    """Refuse entity declarations and external DTDs (never loaded: refused outright)."""
    # lxml-stubs 0.5 lacks DocInfo.system_url and DTD.iterentities (lxml has both).
    if docinfo.system_url or docinfo.public_id:  # type: ignore[attr-defined]
        raise DocumentError("refers to an external DTD (refused: it would be fetched)")
    dtd = docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):  # type: ignore[attr-defined]
        raise DocumentError("declares entities (refused: entity expansion can exhaust memory)")


def _path(template: Template, event: Event) -> FieldPath | str | None:
    """The field a (templated) field option names for this event: None when a field the
    template refers to is missing, the rendered text when it is no field name."""
    text = template.try_render(event)
    if text is None:
        return None
    try:
        return field_path(text) if template.is_constant else FieldPath(text)
    except ValueError:
        return text


def _plain(result: Any, etree: Any) -> Any:
    """An XPath result as event data; None for an empty one."""
    if isinstance(result, list):
        if not result:
            return None
        return [
            etree.tostring(item, encoding="unicode", with_tail=False)
            if isinstance(item, etree._Element)
            else str(item)
            for item in result
        ]
    if isinstance(result, str):
        return str(result) or None
    return result
