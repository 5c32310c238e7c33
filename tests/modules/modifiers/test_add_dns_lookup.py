from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gp_celery.event import errors_of
from gp_celery.modules.modifiers.add_dns_lookup import parse_nameserver
from gp_celery.testing import BuildError, build, run
from tests.modules.services import DnsServer


def dns(server: DnsServer | str, **options: Any) -> Any:
    address = server if isinstance(server, str) else server.address
    return build("AddDnsLookup", {"nameservers": [address], **options})


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def test_resolve_replaces_the_source_field_with_the_address_by_default(
    dns_server: DnsServer,
) -> None:
    [event] = run(dns(dns_server, source_field="host"), [{"host": "www.example.com"}])
    assert event["host"] == "192.0.2.11"
    assert reasons(event) == []


def test_reverse_writes_the_name_without_the_final_dot_to_target_field(
    dns_server: DnsServer,
) -> None:
    module = dns(dns_server, action="reverse", source_field="ip", target_field="peer.name")
    out = run(module, [{"ip": "192.0.2.10"}, {"ip": "2001:db8::10"}, {"ip": "2001:0db8::0010"}])
    assert [event["peer"]["name"] for event in out] == ["host.example.com"] * 3
    assert [event["ip"] for event in out] == ["192.0.2.10", "2001:db8::10", "2001:0db8::0010"]


def test_unknown_name_or_address_leaves_the_event_unchanged_untagged(
    dns_server: DnsServer,
) -> None:
    module = dns(dns_server, source_field="host", target_field="ip")
    [event] = run(module, [{"host": "nope.example.com"}])
    assert "ip" not in event
    assert reasons(event) == []
    reverse = dns(dns_server, action="reverse", source_field="ip", target_field="name")
    [event] = run(reverse, [{"ip": "192.0.2.200"}])
    assert "name" not in event
    assert reasons(event) == []
    assert reverse.stats.counts["not_found"] == 1


def test_resolve_asks_for_the_ipv4_address_of_a_name_that_has_both(
    dns_server: DnsServer,
) -> None:
    # dnsmasq answers host.example.com's AAAA too; resolve asks for A only
    module = dns(dns_server, source_field="host", target_field="ip")
    [event] = run(module, [{"host": "host.example.com"}])
    assert event["ip"] == "192.0.2.10"


def test_missing_null_or_empty_source_is_left_alone(dns_server: DnsServer) -> None:
    module = dns(dns_server, source_field="host", target_field="ip")
    out = run(module, [{}, {"host": None}, {"host": ""}])
    assert [("ip" in event, reasons(event)) for event in out] == [(False, [])] * 3


@pytest.mark.parametrize(
    ("value", "kind"),
    [(3232235521, "int"), (b"host.example.com", "bytes"), (["host.example.com"], "list")],
)
def test_value_that_is_not_text_is_tagged(dns_server: DnsServer, value: Any, kind: str) -> None:
    [event] = run(dns(dns_server, source_field="host"), [{"host": value}])
    assert reasons(event) == [f"'host' is {kind}, not a hostname"]
    assert event["host"] == value


@pytest.mark.parametrize(
    "value", ["192.0.2.", "not an ip", "192.0.2.10\x00", "1.2.3", "\udcff", "9" * 5000]
)
def test_reverse_of_what_is_not_an_address_is_tagged_without_a_query(
    silent_nameserver: str, value: str
) -> None:
    module = dns(silent_nameserver, action="reverse", source_field="ip", timeout=5)
    started = time.monotonic()
    [event] = run(module, [{"ip": value}])
    assert time.monotonic() - started < 2  # no query was sent (one would wait 5 s)
    [reason] = reasons(event)
    assert "is not an IP address" in reason or "too long to look up" in reason
    assert event["ip"] == value


@pytest.mark.parametrize(
    "value",
    ["a..example.com", "x" * 64 + ".example.com", ("a" * 60 + ".") * 5 + "com", "\udcff.com"],
)
def test_malformed_or_oversize_hostname_is_tagged(dns_server: DnsServer, value: str) -> None:
    [event] = run(dns(dns_server, source_field="host"), [{"host": value}])
    assert "is not a valid hostname" in reasons(event)[0]
    assert event["host"] == value


def test_timeout_tags_the_event_and_the_failure_is_cached(silent_nameserver: str) -> None:
    module = dns(silent_nameserver, source_field="host", timeout=0.3)
    [event] = run(module, [{"host": "www.example.com"}])
    assert reasons(event) == ["DNS lookup of 'www.example.com' timed out after 0.3s"]
    assert event["host"] == "www.example.com"
    started = time.monotonic()
    [again] = run(module, [{"host": "www.example.com"}])
    assert time.monotonic() - started < 0.25  # remembered, not asked again
    assert reasons(again) == reasons(event)
    assert module.stats.counts["cache_hits"] == 1


def test_failure_is_asked_again_after_failure_ttl(silent_nameserver: str) -> None:
    module = dns(silent_nameserver, source_field="host", timeout=0.2, failure_ttl_secs=0.01)
    run(module, [{"host": "www.example.com"}])
    time.sleep(0.05)
    run(module, [{"host": "www.example.com"}])
    assert module.stats.counts["cache_hits"] == 0


def test_distinct_names_of_a_batch_are_looked_up_concurrently(silent_nameserver: str) -> None:
    module = dns(silent_nameserver, source_field="host", timeout=1, max_concurrency=8)
    events = [{"host": f"h{i}.example.com"} for i in range(8)]
    started = time.monotonic()
    out = run(module, events)
    elapsed = time.monotonic() - started
    assert elapsed < 4  # one after the other they would take 8 s
    assert len(out) == 8
    assert all("timed out" in reasons(event)[0] for event in out)


def test_each_distinct_name_is_asked_once_per_batch_and_answers_are_cached(
    dns_server: DnsServer,
) -> None:
    module = dns(dns_server, source_field="host", target_field="ip")
    names = ["www.example.com", "other.example.com", "www.example.com", "nope.example.com"]
    out = run(module, [{"host": name} for name in names])
    assert [event.get("ip") for event in out] == ["192.0.2.11", "192.0.2.12", "192.0.2.11", None]
    run(module, [{"host": name} for name in names])
    assert module.stats.counts["cache_hits"] == 3  # the distinct names, the miss included


def test_cache_is_bounded_by_cache_size(dns_server: DnsServer) -> None:
    module = dns(dns_server, source_field="host", target_field="ip", cache_size=1)
    batch = [{"host": "www.example.com"}, {"host": "other.example.com"}]
    run(module, batch)
    run(module, batch)
    assert len(module._cache) == 1


def test_closed_nameserver_port_tags_the_event() -> None:
    # a TCP-only port that is closed: UDP gets ICMP port unreachable, dnspython gives up
    from tests.conftest import free_port

    module = dns(f"127.0.0.1:{free_port()}", source_field="host", timeout=0.5)
    [event] = run(module, [{"host": "www.example.com"}])
    [reason] = reasons(event)
    assert "timed out" in reason or "no nameserver answered" in reason


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("192.0.2.1", ("192.0.2.1", 53)),
        ("192.0.2.1:5353", ("192.0.2.1", 5353)),
        ("2001:db8::1", ("2001:db8::1", 53)),
        ("[2001:db8::1]:5353", ("2001:db8::1", 5353)),
    ],
)
def test_nameserver_forms(text: str, parsed: tuple[str, int]) -> None:
    assert parse_nameserver(text) == parsed


@pytest.mark.parametrize(
    ("nameservers", "message"),
    [
        ("dns.example.com", "is not an IP address"),
        ("192.0.2.1:99999", "has a bad port"),
        ([], "expected a nameserver address or a list"),
        (53, "expected a nameserver address or a list"),
    ],
)
def test_bad_nameservers_are_refused_at_load(nameservers: Any, message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("AddDnsLookup", {"source_field": "host", "nameservers": nameservers})


def test_source_field_is_required_and_action_checked() -> None:
    with pytest.raises(BuildError, match="source_field"):
        build("AddDnsLookup", {})
    with pytest.raises(BuildError, match="action"):
        build("AddDnsLookup", {"source_field": "x", "action": "revers"})


def test_lumbermill_name_and_system_resolver_build() -> None:
    module = build("modifier.AddDnsLookup", {"source_field": "host"})
    assert type(module).__name__ == "AddDnsLookup"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=40),
            st.binary(max_size=20),
            st.integers(),
            st.none(),
            st.sampled_from(["www.example.com", "192.0.2.10", "nope.example.com"]),
        ),
        max_size=10,
    )
)
def test_any_value_never_raises_and_no_event_is_lost(
    dns_server: DnsServer, values: list[Any]
) -> None:
    module = dns(dns_server, source_field="v", target_field="out", timeout=0.5)
    out = run(module, [{"v": value} for value in values])
    assert [event["v"] for event in out] == values
