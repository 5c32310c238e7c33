"""DomainNameParser: a host name or URL into registered domain, suffix and subdomain."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from pydantic import Field

from gp_celery.event import Batch, field_path
from gp_celery.modules.base import Example, Options, Parser
from gp_celery.modules.parsers.text import text_of
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

MAX_HOST_CHARS: Final = 253
"""The longest DNS name (RFC 1035)."""
_HOST: Final = re.compile(r"[^\s\x00-\x1f\x7f/\\?#@:<>\"'`{}|^%]+")
"""What a host name may hold: no space, control or URL delimiter (IDNs are fine)."""


class DomainNameParserOptions(Options):
    source_field: FieldName
    """Required. Field holding a host name or a URL."""
    target_field: FieldName = "domain_name_info"
    """Field the parts are written to."""
    private_suffixes: bool = True
    """Count private suffixes (blogspot.com, github.io) as suffixes, as LumberMill did."""
    cache_size: int = Field(default=1000, ge=0)
    """Host names whose parts are remembered (least recently used go first); 0: none."""


Parts = dict[str, str] | str
"""The parts of a host, or why it has none."""


@register
class DomainNameParser(Parser[DomainNameParserOptions]):
    """Split a host name or URL into registered domain, public suffix and subdomain.

    ``http://some.sub.google.co.uk/x`` gives ``{'domain': 'google', 'suffix': 'co.uk',
    'tld': 'co.uk', 'subdomain': 'some.sub', 'registered_domain': 'google.co.uk'}``. The
    suffixes come from the Public Suffix List shipped with the ``publicsuffixlist``
    package (updated with each of its releases; nothing is downloaded at run time). A
    URL's host is used; a trailing dot is ignored; names are lower-cased. An unknown
    top-level domain counts as a suffix (``host.internal`` gives domain ``host``).

    Differences from LumberMill (the ``tld`` package): ``tld`` holds the suffix, as
    LumberMill's own tests show (its docstring said otherwise); ``registered_domain`` is
    added. An IP address, a name that is a suffix itself or has a single label
    (``localhost``, ``co.uk``), a malformed name, a value that is not text or invalid UTF-8
    tag the event, which goes on without the field (LumberMill crashed on these). An
    event without the source field goes on untouched. Results for the last cache_size host
    names are cached.
    """

    aliases = ("parser.DomainName",)
    examples = [
        Example(
            options={"source_field": "url", "target_field": "url_tld_data"},
            given=[{"url": "http://the.sheep.co.uk"}],
            expect=[
                {
                    "url_tld_data": {
                        "domain": "sheep",
                        "subdomain": "the",
                        "suffix": "co.uk",
                        "tld": "co.uk",
                        "registered_domain": "sheep.co.uk",
                    }
                }
            ],
        ),
    ]

    def setup(self) -> None:
        from publicsuffixlist import PublicSuffixList

        options = self.options
        self._list: PublicSuffixList = PublicSuffixList(only_icann=not options.private_suffixes)
        self._source = field_path(options.source_field)
        self._target = field_path(options.target_field)
        self._parts = lru_cache(maxsize=options.cache_size)(self._split)

    def process(self, events: Batch) -> Batch:
        for event in events:
            text = text_of(self, event, self._source)
            if text is None:
                continue
            host = _host(text)
            if host is None:
                parts: Parts = "has no host name"
            elif len(host) > MAX_HOST_CHARS:  # checked before the cache: it holds no giants
                parts = f"is not a valid host name (over {MAX_HOST_CHARS} characters)"
            else:
                parts = self._parts(host)
            if isinstance(parts, str):
                self.fail(event, f"'{self._source.dotted}' {parts}: {text[:60]!r}")
                continue
            self._target.set(event, dict(parts))
        return events

    def _split(self, host: str) -> Parts:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return "is an IP address, not a domain name"
        if not (_HOST.fullmatch(host) and host.isprintable() and all(host.split("."))):
            return "is not a valid host name"
        suffix = self._list.publicsuffix(host)
        registered = self._list.privatesuffix(host)
        if suffix is None or registered is None:
            return "has no registered domain (it is a public suffix or a single label)"
        subdomain = host[: -len(registered)].rstrip(".") if host != registered else ""
        return {
            "domain": registered[: -len(suffix) - 1],
            "subdomain": subdomain,
            "suffix": suffix,
            "tld": suffix,
            "registered_domain": registered,
        }


def _host(text: str) -> str | None:
    """The lower-cased host of a URL or host name (port and trailing dot removed)."""
    text = text.strip()
    if "/" in text or "@" in text or ":" in text:
        try:
            hostname = urlsplit(text if "//" in text else f"//{text}").hostname
        except ValueError:
            return None
        if hostname is None:
            return None
        text = hostname
    return text.lower().rstrip(".") or None
