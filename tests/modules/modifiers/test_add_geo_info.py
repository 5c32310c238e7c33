from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import errors_of
from gp_celery.modules.modifiers.add_geo_info import GEO_FIELDS, GeoDatabaseError
from gp_celery.testing import BuildError, build, run
from tests.modules.services import geolite2_city

BERLIN = "81.169.145.1"  # Strato, Berlin, in the 2018 GeoLite2 City database
GOOGLE_V6 = "2001:4860:4860::8888"  # Mountain View


def geo(**options: Any) -> Any:
    return build("AddGeoInfo", {"geoip_dat_path": str(geolite2_city()), **options})


@functools.cache
def shared_geo() -> Any:
    """One module for hypothesis' many examples (building one opens the database)."""
    return geo()


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def test_known_ipv4_gets_every_field_at_the_top_level_by_default() -> None:
    [event] = run(geo(), [{"remote_ip": BERLIN}])
    assert {key: event[key] for key in GEO_FIELDS} == {
        "city": "Berlin",
        "postal_code": "12529",
        "country_name": "Germany",
        "country_code": "DE",
        "continent_code": "EU",
        "continent": "Europe",
        "area_code": "BE",
        "region_name": "Land Berlin",
        "longitude": 13.4,
        "latitude": 52.5167,
        "longlat": [13.4, 52.5167],
        "time_zone": "Europe/Berlin",
        "metro_code": None,
    }
    assert reasons(event) == []


def test_ipv6_is_looked_up_and_target_field_holds_a_map() -> None:
    [event] = run(geo(target_field="geo.info"), [{"remote_ip": GOOGLE_V6}])
    info = event["geo"]["info"]
    assert (info["city"], info["country_code"], info["metro_code"]) == ("Mountain View", "US", 807)
    assert info["area_code"] == "CA"


def test_geo_info_fields_selects_and_gambolputty_names_map_to_geolite2_fields() -> None:
    module = geo(geo_info_fields=["latitude", "region_code", "dma_code"])
    [event] = run(module, [{"remote_ip": GOOGLE_V6}])
    assert event["region_code"] == "CA"
    assert event["dma_code"] == 807
    assert "city" not in event
    assert "metro_code" not in event


def test_first_source_field_the_database_knows_wins() -> None:
    module = geo(geo_info_fields=["country_code"])
    out = run(
        module,
        [
            {"x_forwarded_for": "-", "remote_ip": BERLIN},
            {"x_forwarded_for": "10.0.0.1", "remote_ip": GOOGLE_V6},
            {"x_forwarded_for": GOOGLE_V6, "remote_ip": BERLIN},
            {"x_forwarded_for": "", "remote_ip": None},
        ],
    )
    assert [event.get("country_code") for event in out] == ["DE", "US", "US", None]


def test_comma_separated_forwarded_for_uses_the_first_known_address() -> None:
    module = geo(geo_info_fields=["city"])
    [event] = run(module, [{"x_forwarded_for": f"unknown, 192.168.1.1, {BERLIN}, {GOOGLE_V6}"}])
    assert event["city"] == "Berlin"


def test_list_value_is_tried_element_by_element() -> None:
    module = geo(geo_info_fields=["city"], source_fields="ips")
    [event] = run(module, [{"ips": [7, "10.0.0.1", GOOGLE_V6, BERLIN]}])
    assert event["city"] == "Mountain View"
    assert reasons(event) == []


@pytest.mark.parametrize(
    "value",
    [
        "10.1.2.3",
        "127.0.0.1",
        "::1",
        "fe80::1",
        "0.0.0.0",
        "www.example.com",
        "1.2.3",
        "127.1",
        "unknown",
    ],
)
def test_private_reserved_unknown_and_non_address_text_is_a_miss_not_a_tag(value: str) -> None:
    module = geo()
    [event] = run(module, [{"remote_ip": value}])
    assert event == {"remote_ip": value, "gambolputty": event["gambolputty"]}
    assert reasons(event) == []
    assert module.stats.counts["misses"] == 1


@pytest.mark.parametrize(
    ("value", "kind"),
    [(16909060, "int"), (b"81.169.145.1", "bytes"), ({"ip": BERLIN}, "dict"), (1.5, "float")],
)
def test_value_that_is_not_text_is_tagged_and_kept(value: Any, kind: str) -> None:
    [event] = run(geo(), [{"remote_ip": value}])
    assert reasons(event) == [f"'remote_ip' is {kind}, not an IP address"]
    assert event["remote_ip"] == value
    assert "country_code" not in event


@pytest.mark.parametrize(
    "value",
    [
        "81.169.145.",  # truncated
        "81.169.145.1\x00",  # NUL: the C reader raises TypeError, not ValueError
        "81.169.\udcff.1",  # a lone surrogate, what invalid UTF-8 decodes to
        "8" * 100_000,  # oversize
        ",".join(["x"] * 10_000),  # a hostile list
        "81.169.145.1 ",  # padding is not stripped from a single address
    ],
)
def test_malformed_truncated_oversize_text_goes_on_untagged(value: str) -> None:
    [event] = run(geo(), [{"remote_ip": value}])
    assert reasons(event) == []
    assert event["remote_ip"] == value
    assert "country_code" not in event


def test_misses_are_cached_too() -> None:
    module = geo()
    events = [{"remote_ip": ip} for ip in ["10.0.0.1", "nope", BERLIN] * 5]
    out = run(module, events)
    assert len(out) == 15
    assert module.stats.counts["cache_hits"] == 12
    assert module.stats.counts["misses"] == 10


def test_cache_is_bounded_by_cache_size() -> None:
    module = geo(cache_size=2)
    run(module, [{"remote_ip": ip} for ip in [BERLIN, GOOGLE_V6, "10.0.0.1", BERLIN]])
    assert module.stats.counts["cache_hits"] == 0
    assert module._lookup.cache_info().currsize == 2


def test_cached_results_are_not_shared_between_events() -> None:
    out = run(geo(target_field="geo"), [{"remote_ip": BERLIN}, {"remote_ip": BERLIN}])
    out[0]["geo"]["city"] = "changed"
    out[0]["geo"]["longlat"].append(0)
    assert out[1]["geo"]["city"] == "Berlin"
    assert out[1]["geo"]["longlat"] == [13.4, 52.5167]


def test_target_field_that_cannot_be_set_tags_the_event() -> None:
    [event] = run(geo(target_field="x.0"), [{"remote_ip": BERLIN, "x": [1]}])
    assert event["x"][0]["city"] == "Berlin"  # a list index is a place too
    [event] = run(geo(target_field="x.5"), [{"remote_ip": BERLIN, "x": [1]}])
    assert reasons(event)[0].startswith("cannot set 'x.5'")


def test_lumbermill_spelling_gets_lumbermill_target_default_and_names() -> None:
    module = build(
        "modifier.AddGeoInfo",
        {
            "geoip2_dat_path": str(geolite2_city()),
            "maxmind_info_fields": ["country_code"],
            "maxmind_locals": ["de", "en"],
        },
    )
    [event] = run(module, [{"remote_ip": BERLIN}])
    assert event["geo_info"] == {"country_code": "DE"}
    spelled = {"geoip2_dat_path": str(geolite2_city()), "maxmind_locals": ["de"]}
    [event] = run(build("AddGeoInfo", spelled), [{"remote_ip": BERLIN}])
    assert event["geo_info"]["country_name"] == "Deutschland"


def test_locales_fall_back_in_order() -> None:
    [event] = run(geo(maxmind_locals=["xx", "fr"]), [{"remote_ip": GOOGLE_V6}])
    assert event["geo_info"]["country_name"] == "États-Unis"


def test_legacy_dat_path_is_refused_at_load_with_what_to_use() -> None:
    with pytest.raises(BuildError, match=r"legacy GeoIP \(\.dat\).*GeoLite2-City \.mmdb"):
        build("AddGeoInfo", {"geoip_dat_path": "/usr/share/GeoIP/GeoLiteCity.dat"})


def test_unknown_geo_info_field_is_refused_at_load() -> None:
    with pytest.raises(BuildError, match="unknown field 'town'; valid fields: city"):
        geo(geo_info_fields=["town"])
    with pytest.raises(BuildError, match="no 'country_code3'"):
        geo(geo_info_fields=["country_code3"])


def test_both_spellings_of_the_path_are_refused() -> None:
    with pytest.raises(BuildError, match="not both"):
        geo(geoip2_dat_path="/x.mmdb")


def test_missing_database_is_a_clear_error_at_setup(tmp_path: Path) -> None:
    with pytest.raises(GeoDatabaseError, match="does not exist; download a GeoLite2-City"):
        build("AddGeoInfo", {"geoip_dat_path": str(tmp_path / "nope.mmdb")})


def test_file_that_is_not_an_mmdb_is_a_clear_error_at_setup(tmp_path: Path) -> None:
    fake = tmp_path / "GeoLiteCity.bin"
    fake.write_bytes(b"\x00" * 4096)
    with pytest.raises(GeoDatabaseError, match=r"is not a MaxMind DB \(\.mmdb\) file"):
        build("AddGeoInfo", {"geoip_dat_path": str(fake)})


def test_directory_as_database_is_a_clear_error_at_setup(tmp_path: Path) -> None:
    with pytest.raises(GeoDatabaseError, match=r"is a directory, not a \.mmdb file"):
        build("AddGeoInfo", {"geoip_dat_path": str(tmp_path)})  # a directory


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=60),
            st.binary(max_size=40),
            st.ip_addresses().map(str),
            st.integers(),
            st.none(),
            st.lists(st.one_of(st.text(max_size=20), st.ip_addresses().map(str)), max_size=4),
        ),
        max_size=20,
    )
)
def test_any_value_in_the_source_field_never_raises_and_no_event_is_lost(
    values: list[Any],
) -> None:
    out = run(shared_geo(), [{"remote_ip": value} for value in values])
    assert len(out) == len(values)
    for event, value in zip(out, values, strict=True):
        assert event["remote_ip"] == value


def geoip2_fields(reader: Any, ip: str) -> dict[str, Any] | None:
    """What LumberMill (and the bare-Python p2 baseline) made of geoip2's City model."""
    import geoip2.errors

    try:
        g = reader.city(ip)
    except geoip2.errors.AddressNotFoundError:
        return None
    lon, lat = g.location.longitude, g.location.latitude
    most_specific = g.subdivisions.most_specific
    return {
        "city": g.city.name,
        "postal_code": g.postal.code,
        "country_name": g.country.name,
        "country_code": g.country.iso_code,
        "continent_code": g.continent.code,
        "continent": g.continent.name,
        "area_code": most_specific.iso_code,
        "region_name": most_specific.name,
        "longitude": lon,
        "latitude": lat,
        "longlat": [lon, lat],
        "time_zone": g.location.time_zone,
        "metro_code": g.location.metro_code,
    }


def test_fields_equal_what_geoip2s_city_model_gives_lumbermill() -> None:
    import random

    import geoip2.database

    rng = random.Random(9)
    ips = [BERLIN, GOOGLE_V6, "8.8.8.8", "91.212.1.1", "10.0.0.1"]
    ips += [".".join(str(rng.randrange(1, 224)) for _ in range(4)) for _ in range(500)]
    with geoip2.database.Reader(str(geolite2_city()), locales=["en"]) as reader:
        expected = [geoip2_fields(reader, ip) for ip in ips]
    out = run(geo(target_field="geo_info"), [{"remote_ip": ip} for ip in ips])
    assert [event.get("geo_info") for event in out] == expected
    assert sum(e is not None for e in expected) > 400  # the sample is mostly known addresses
