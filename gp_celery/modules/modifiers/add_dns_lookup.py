"""AddDnsLookup: a hostname's address, or an address's hostname, into a field."""

from __future__ import annotations

import ipaddress
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Final, Literal

from pydantic import Field, PlainValidator, WithJsonSchema

from gp_celery.event import MISSING, Batch, Event, field_path
from gp_celery.modules.base import Example, Modifier, Options
from gp_celery.modules.registry import register
from gp_celery.modules.ttl_cache import TtlCache
from gp_celery.modules.types import FieldName

MAX_NAME_CHARS: Final = 1024
"""Longer values are tagged without a query (a DNS name has at most 253 characters)."""


class NoNameserversError(OSError):
    """Neither the options nor the system name a nameserver."""


Outcome = tuple[str | None, str | None]
"""(answer, problem): an answer; or (None, None) for 'no such name/record'; or a problem
that tags the event (a timeout, no nameserver answered, not a name or address)."""


def parse_nameserver(text: Any) -> tuple[str, int]:
    """'192.0.2.1', '192.0.2.1:5353', '2001:db8::1', '[2001:db8::1]:5353' -> (ip, port)."""
    if not isinstance(text, str):
        raise ValueError(f"expected a nameserver address, got {text!r}")
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = _port(rest.removeprefix(":"), text)
    elif text.count(":") == 1:
        host, _, rest = text.partition(":")
        port = _port(rest, text)
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        raise ValueError(
            f"nameserver {text!r} is not an IP address (with an optional :port)"
        ) from None


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"nameserver {whole!r} has a bad port")
    return int(text)


def _nameservers(value: Any) -> tuple[tuple[str, int], ...] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError("expected a nameserver address or a list of them")
    return tuple(parse_nameserver(item) for item in values)


Nameservers = Annotated[
    tuple[tuple[str, int], ...] | None,
    PlainValidator(_nameservers),
    WithJsonSchema({"type": "array", "items": {"type": "string"}}),
]


class AddDnsLookupOptions(Options):
    action: Literal["resolve", "reverse"] = "resolve"
    """resolve: hostname -> IPv4 address; reverse: IP address -> hostname (PTR)."""
    source_field: FieldName
    """Field holding the hostname or address."""
    target_field: FieldName | None = None
    """Field the answer is written to (default None: the source field is replaced)."""
    nameservers: Nameservers = None
    """Nameserver address or list of them, 'ip' or 'ip:port' (default: the system's)."""
    timeout: float = Field(default=1, gt=0)
    """Seconds a lookup may take in all, retries included."""
    cache_size: int = Field(default=5000, ge=0)
    """Distinct names whose answer (or failure) is remembered, least recently used out."""
    cache_ttl_secs: float = Field(default=300, ge=0)
    """Seconds an answer is remembered."""
    failure_ttl_secs: float = Field(default=60, ge=0)
    """Seconds a failure (no such name, timeout) is remembered before it is asked again."""
    max_concurrency: int = Field(default=16, ge=1, le=256)
    """Lookups of one batch that run at once."""


@register
class AddDnsLookup(Modifier[AddDnsLookupOptions]):
    """Resolve a hostname to its address, or an address to its hostname, into a field.

    resolve writes the first IPv4 (A) address of the name; reverse writes the PTR name of
    an IPv4 or IPv6 address, without the final dot (LumberMill kept it). Names are asked
    as given, without the system's search domains.

    The distinct values of a batch are looked up at once, up to max_concurrency at a time,
    so one slow name does not hold up the others; a batch waits at most about timeout
    seconds per max_concurrency new values. Answers are remembered for cache_ttl_secs and
    failures for failure_ttl_secs, in a cache of cache_size names, so a dead nameserver
    does not slow every batch.

    A name or address that does not exist, or has no such record, leaves the event
    unchanged, as in GambolPutty (counted as 'not_found'). A lookup that could not be done
    tags the event, which goes on unchanged: a timeout, no nameserver answering, a value
    that is not a valid name (resolve) or IP address (reverse), or not text at all. A
    missing, null or empty source field is left alone. GambolPutty looked names up in a
    pool of three threads and sent events on out of order; here a batch keeps its order.
    """

    aliases = ("modifier.AddDnsLookup",)
    examples = [
        Example(
            options={
                "action": "reverse",
                "source_field": "remote_ip",
                "target_field": "remote_host",
                "nameservers": "192.0.2.53",
            },
            given=[{"remote_ip": "192.0.2.10"}, {"remote_ip": "192.0.2.99"}],
            expect=[
                {"remote_ip": "192.0.2.10", "remote_host": "host.example.com"},
                {"remote_ip": "192.0.2.99"},
            ],
            note="With a nameserver that knows host.example.com (192.0.2.10) and no name "
            "for 192.0.2.99.",
        ),
        Example(
            options={"source_field": "host", "nameservers": ["192.0.2.53:5353"]},
            given=[{"host": "host.example.com"}],
            expect=[{"host": "192.0.2.10"}],
        ),
    ]

    def setup(self) -> None:
        import dns.nameserver
        import dns.resolver

        options = self.options
        self._source = field_path(options.source_field)
        self._target = field_path(options.target_field or options.source_field)
        if options.nameservers is None:
            try:
                resolver = dns.resolver.Resolver()  # /etc/resolv.conf
            except dns.resolver.NoResolverConfiguration:
                raise NoNameserversError(
                    f"{self.label}: the system names no nameserver (/etc/resolv.conf); "
                    "set 'nameservers'"
                ) from None
        else:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port) for host, port in options.nameservers
            ]
        resolver.timeout = resolver.lifetime = options.timeout
        self._resolver = resolver
        self._cache: TtlCache[str, Outcome] = TtlCache(options.cache_size)
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def process(self, events: Batch) -> Batch:
        waiting: dict[str, list[Event]] = {}
        for event in events:
            value = self._source.get(event)
            if value is MISSING or value is None or value == "":
                continue
            if not isinstance(value, str):
                kind = "an address" if self.options.action == "reverse" else "a hostname"
                self.fail(event, f"'{self._source.dotted}' is {type(value).__name__}, not {kind}")
                continue
            waiting.setdefault(value, []).append(event)
        outcomes = self._look_up(list(waiting))
        for value, those in waiting.items():
            answer, problem = outcomes[value]
            for event in those:
                self._apply(event, answer, problem)
        return events

    def _apply(self, event: Event, answer: str | None, problem: str | None) -> None:
        if problem is not None:
            self.fail(event, problem)
        elif answer is None:
            self.stats.incr("not_found")
        else:
            try:
                self._target.set(event, answer)
            except (TypeError, ValueError, IndexError) as error:
                self.fail(event, f"cannot set {self._target.dotted!r}: {error}")

    def _look_up(self, values: list[str]) -> dict[str, Outcome]:
        """Outcomes of ``values``: from the cache, the rest asked concurrently."""
        now = time.monotonic()
        outcomes: dict[str, Outcome] = {}
        unknown = []
        for value in values:
            cached, outcome = self._cache.get(value, now)
            if cached and outcome is not None:
                outcomes[value] = outcome
            else:
                unknown.append(value)
        self.stats.incr("cache_hits", len(outcomes))
        if not unknown:
            return outcomes
        if len(unknown) == 1:
            asked = [self._ask(unknown[0])]
        else:
            if self._pool is None:  # made on first use: after a worker forked
                self._pool = ThreadPoolExecutor(self.options.max_concurrency, "dns-lookup")
            asked = list(self._pool.map(self._ask, unknown))
        now = time.monotonic()
        for value, outcome in zip(unknown, asked, strict=True):
            outcomes[value] = outcome
            ttl = self.options.cache_ttl_secs if outcome[0] else self.options.failure_ttl_secs
            if len(value) <= MAX_NAME_CHARS:
                self._cache.put(value, outcome, ttl, now)
        return outcomes

    def _ask(self, value: str) -> Outcome:
        """One lookup; never raises for what a nameserver or a value can do."""
        import dns.exception
        import dns.resolver

        reverse = self.options.action == "reverse"
        if len(value) > MAX_NAME_CHARS:
            return None, f"'{self._source.dotted}' is {len(value)} characters, too long to look up"
        if reverse:
            try:
                value = str(ipaddress.ip_address(value))
            except ValueError:
                return None, f"{value[:100]!r} is not an IP address"
        try:
            if reverse:
                answer = self._resolver.resolve_address(value)
            else:
                answer = self._resolver.resolve(value, "A", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None, None
        except dns.exception.Timeout:
            return None, f"DNS lookup of {value!r} timed out after {self.options.timeout}s"
        except dns.resolver.NoNameservers:
            return None, f"no nameserver answered the lookup of {value!r}"
        except (dns.exception.DNSException, ValueError) as error:  # not a name: too long...
            return None, f"{value[:100]!r} is not a valid hostname ({error})"
        text = answer[0].to_text()
        return (text.removesuffix(".") if reverse else text), None
