"""AddGeoInfo: MaxMind GeoIP2/GeoLite2 data for the first field that holds a known IP."""

from __future__ import annotations

import functools
import ipaddress
import os
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from gp_celery.event import MISSING, Batch, Event, field_path
from gp_celery.modules.base import Example, Modifier
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName, FieldNames, SpelledOptions

GEO_FIELDS: Final = (
    "city", "postal_code", "country_name", "country_code", "continent_code", "continent",
    "area_code", "region_name", "longitude", "latitude", "longlat", "time_zone", "metro_code",
)  # fmt: skip
"""What a City database gives, under LumberMill's names (its geoip2 version)."""

LEGACY_FIELDS: Final[Mapping[str, str]] = {"region_code": "area_code", "dma_code": "metro_code"}
"""GambolPutty's (pygeoip) names with a GeoLite2 equivalent -> that field."""

MAX_TEXT_CHARS: Final = 512
"""Longer values are not looked up: no IP list in a log field is that long."""
MAX_LIST_ADDRESSES: Final = 16
"""Addresses tried in one comma-separated value (X-Forwarded-For) or list."""

DOWNLOAD: Final = "https://dev.maxmind.com/geoip/geolite2-free-geolocation-data"
LUMBERMILL_ONLY: Final = (
    "geoip2_dat_path", "maxmind_info_fields", "maxmind_locals", "maxmind_mode",
)  # fmt: skip

Record = dict[str, Any]


class GeoDatabaseError(OSError):
    """The database cannot be opened or is not a MaxMind DB (mmdb) file."""


class AddGeoInfoOptions(SpelledOptions):
    geoip_dat_path: str = Field(validation_alias=AliasChoices("geoip_dat_path", "geoip2_dat_path"))
    """Path of a MaxMind GeoIP2 or GeoLite2 City (or Country) database, a .mmdb file."""
    geo_info_fields: tuple[str, ...] | None = Field(
        default=None, validation_alias=AliasChoices("geo_info_fields", "maxmind_info_fields")
    )
    """Fields to add (default None: all of them; see the module's description)."""
    source_fields: FieldNames = ("x_forwarded_for", "remote_ip")
    """Fields holding an IP address; the first that the database knows is used."""
    target_field: FieldName | None = None
    """Put the fields in a map here (default None: at the top level of the event)."""
    maxmind_locals: tuple[str, ...] = Field(default=("en",), min_length=1)
    """LumberMill: languages of city, region, country and continent names, in order."""
    maxmind_mode: Literal["MODE_AUTO", "MODE_MMAP_EXT", "MODE_MMAP", "MODE_FILE", "MODE_MEMORY"] = (
        "MODE_AUTO"
    )
    """LumberMill: how the database is read (default MODE_AUTO: the C reader, memory-mapped)."""
    cache_size: int = Field(default=65536, ge=0)
    """Distinct values whose result (hit or miss) is remembered, least recently used out
    (0: no cache)."""

    @model_validator(mode="before")
    @classmethod
    def _lumbermill_target(cls, data: Any) -> Any:
        # A config that uses one of LumberMill's own option names is LumberMill's, whose
        # target_field defaulted to 'geo_info'.
        lumbermill = isinstance(data, dict) and any(name in data for name in LUMBERMILL_ONLY)
        if lumbermill and "target_field" not in data:
            return {**data, "target_field": "geo_info"}
        return data

    @field_validator("geoip_dat_path")
    @classmethod
    def _not_legacy(cls, path: str) -> str:
        if path.lower().endswith(".dat"):
            raise ValueError(
                f"{path!r} is a legacy GeoIP (.dat) database, which MaxMind discontinued; "
                f"use a GeoLite2-City .mmdb file ({DOWNLOAD})"
            )
        return path

    @field_validator("geo_info_fields")
    @classmethod
    def _known_fields(cls, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for name in names or ():
            if name == "country_code3":
                raise ValueError("GeoLite2 has no 'country_code3'; use 'country_code'")
            if name not in GEO_FIELDS and name not in LEGACY_FIELDS:
                raise ValueError(f"unknown field {name!r}; valid fields: {', '.join(GEO_FIELDS)}")
        return names


@register
class AddGeoInfo(Modifier[AddGeoInfoOptions]):
    """Add MaxMind GeoIP2/GeoLite2 City data for the first field holding a known IP.

    The source fields are tried in order; a missing, null, empty or '-' field is skipped. A
    text value is an IPv4 or IPv6 address, or a comma-separated list of them
    (X-Forwarded-For: the first known address wins); a list value is tried element by
    element (elements that are not text are skipped). The first address the database knows
    gives the fields, written at the top level or as a map under target_field; keys the
    database lacks for that address are written as null.

    Fields (LumberMill's names): city, postal_code, country_name, country_code,
    continent_code, continent (the name), area_code and region_name (the most specific
    subdivision's code and name), longitude, latitude, longlat ([longitude, latitude], for
    map panels), time_zone, metro_code. GambolPutty's region_code and dma_code are accepted
    in geo_info_fields as area_code and metro_code.

    An address the database does not know (private, reserved, or simply absent) and text
    that is not an address (a hostname, 'unknown') leave the event unchanged and untagged,
    as in GambolPutty; they are counted as 'misses'. Hostnames are not resolved: GambolPutty
    did a DNS lookup per new name, which stalled the pipeline (use AddDnsLookup first). A
    value that is not text (a number, bytes, a map) tags the event.

    GambolPutty read legacy GeoIP .dat files with pygeoip; MaxMind discontinued that format
    and a .dat path is an error at load: download a GeoLite2-City .mmdb (free, with an
    account) from https://dev.maxmind.com/geoip/geolite2-free-geolocation-data. Results,
    misses included, are kept in an LRU cache of cache_size values. LumberMill's ASN
    database (asn_dat_path) is not supported. A config that uses one of LumberMill's option
    names (geoip2_dat_path, maxmind_info_fields, ...) gets LumberMill's target_field
    default, 'geo_info'.
    """

    aliases = ("modifier.AddGeoInfo",)
    examples = [
        Example(
            options={
                "geoip_dat_path": "/usr/share/GeoIP/GeoLite2-City.mmdb",
                "source_fields": ["remote_ip"],
                "geo_info_fields": ["latitude", "longitude", "country_code"],
            },
            given=[{"remote_ip": "81.169.145.1"}, {"remote_ip": "10.1.2.3"}],
            expect=[
                {
                    "remote_ip": "81.169.145.1",
                    "latitude": 52.5167,
                    "longitude": 13.4,
                    "country_code": "DE",
                },
                {"remote_ip": "10.1.2.3"},
            ],
            note="With the GeoLite2 City database of 2018; a private address is left alone.",
        ),
        Example(
            options={
                "geoip_dat_path": "/usr/share/GeoIP/GeoLite2-City.mmdb",
                "target_field": "geo_info",
                "geo_info_fields": ["city", "country_name", "longlat"],
            },
            given=[{"x_forwarded_for": "2001:4860:4860::8888, 10.0.0.1"}],
            expect=[
                {
                    "geo_info": {
                        "city": "Mountain View",
                        "country_name": "United States",
                        "longlat": [-122.0574, 37.419200000000004],
                    }
                }
            ],
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._reader = open_database(options.geoip_dat_path, options.maxmind_mode, self.label)
        self._sources = [
            (path.dotted, path if len(path.parts) > 1 else None)  # top-level: dict.get
            for path in map(field_path, options.source_fields)
        ]
        self._target = field_path(options.target_field) if options.target_field else None
        self._top_target = (
            self._target.dotted if self._target and not self._target.parts[1:] else ""
        )
        wanted = options.geo_info_fields
        self._fields = (
            tuple((name, LEGACY_FIELDS.get(name, name)) for name in wanted) if wanted else None
        )
        get, locales = self._reader.get, options.maxmind_locals

        def find(text: str) -> Record | None:
            return geo_fields(first_known(get, text), locales, self._fields)

        self._lookup: Callable[[str], Record | None] = (
            functools.lru_cache(maxsize=options.cache_size)(find) if options.cache_size else find
        )
        self._cache_hits = 0

    def close(self) -> None:
        self._reader.close()

    def process(self, events: Batch) -> Batch:
        enrich = self._enrich
        misses = 0
        for event in events:
            if not enrich(event):
                misses += 1
        if misses:
            self.stats.incr("misses", misses)
        self._count_cache()
        return events

    def _enrich(self, event: Event) -> bool:
        """Write the first known address's fields; False when there was none (a miss)."""
        lookup = self._lookup
        for name, path in self._sources:
            value = event.get(name) if path is None else path.get(event)
            if not value or value == "-" or value is MISSING:
                continue
            if type(value) is str:
                found = lookup(value) if len(value) <= MAX_TEXT_CHARS else None
            elif isinstance(value, list):
                found = self._first_of(value)
            else:
                self.fail(event, f"'{name}' is {type(value).__name__}, not an IP address")
                return True  # tagged, not a miss
            if found is not None:
                self._write(event, found)
                return True
        return False

    def _first_of(self, values: list[Any]) -> Record | None:
        for text in values[:MAX_LIST_ADDRESSES]:
            if isinstance(text, str) and len(text) <= MAX_TEXT_CHARS:
                found = self._lookup(text)
                if found is not None:
                    return found
        return None

    def _write(self, event: Event, found: Record) -> None:
        geo = found.copy()
        if "longlat" in geo:
            geo["longlat"] = geo["longlat"][:]  # the cached list is never shared
        if self._top_target:
            event[self._top_target] = geo
            return
        if self._target is None:
            event.update(geo)
            return
        try:
            self._target.set(event, geo)
        except (TypeError, ValueError, IndexError) as error:
            self.fail(event, f"cannot set {self._target.dotted!r}: {error}")

    def _count_cache(self) -> None:
        info = getattr(self._lookup, "cache_info", None)
        if info is None:
            return
        now = info()  # lru_cache counts its hits; per-event counting would cost more
        self.stats.incr("cache_hits", now.hits - self._cache_hits)
        self._cache_hits = now.hits


def open_database(path: str, mode: str, label: str) -> Any:
    """A maxminddb reader for ``path``, or a GeoDatabaseError saying what to do."""
    import maxminddb

    if os.path.isdir(path):
        raise GeoDatabaseError(f"{label}: geoip_dat_path {path!r} is a directory, not a .mmdb file")
    try:
        reader = maxminddb.open_database(path, getattr(maxminddb, mode))
    except FileNotFoundError:
        raise GeoDatabaseError(
            f"{label}: geoip_dat_path {path!r} does not exist; download a GeoLite2-City "
            f".mmdb from {DOWNLOAD}"
        ) from None
    except OSError as error:
        raise GeoDatabaseError(
            f"{label}: cannot read geoip_dat_path {path!r}: {error.strerror or error}"
        ) from None
    except (maxminddb.InvalidDatabaseError, ValueError) as error:
        raise GeoDatabaseError(
            f"{label}: geoip_dat_path {path!r} is not a MaxMind DB (.mmdb) file ({error}); "
            f"legacy GeoIP .dat files are not supported: use a GeoLite2-City .mmdb"
        ) from None
    return reader


def first_known(get: Callable[[str], Any], text: str) -> Any:
    """The record of ``text``'s address, or of the first known one of a comma-separated
    list; None when no address is known or valid."""
    if "," not in text:
        return _record(get, text)
    for part in text.split(",", MAX_LIST_ADDRESSES)[:MAX_LIST_ADDRESSES]:
        record = _record(get, part.strip())
        if record:
            return record
    return None


def _record(get: Callable[[str], Any], text: str) -> Any:
    try:
        # Strictly an address: the C reader also takes inet_aton's shorthands ('1.2.3',
        # '127.1'), which in a log field are garbage, not addresses. Only cache misses pay.
        address = ipaddress.ip_address(text)
        return get(str(address))
    except (ValueError, TypeError):  # not an address, or IPv6 in an IPv4 database
        return None


def _name(record: Any, locales: tuple[str, ...]) -> Any:
    names = record.get("names") if isinstance(record, dict) else None
    if not names:
        return None
    return next((names[locale] for locale in locales if locale in names), None)


def geo_fields(
    record: Any, locales: tuple[str, ...], wanted: tuple[tuple[str, str], ...] | None
) -> Record | None:
    """A database record under LumberMill's field names (only ``wanted`` ones when given:
    shown name -> field), or None for no record."""
    if not isinstance(record, dict) or not record:
        return None
    location = record.get("location") or {}
    subdivisions = record.get("subdivisions") or [{}]
    region = subdivisions[-1]
    continent = record.get("continent") or {}
    country = record.get("country") or {}
    longitude, latitude = location.get("longitude"), location.get("latitude")
    fields = {
        "city": _name(record.get("city"), locales),
        "postal_code": (record.get("postal") or {}).get("code"),
        "country_name": _name(country, locales),
        "country_code": country.get("iso_code"),
        "continent_code": continent.get("code"),
        "continent": _name(continent, locales),
        "area_code": region.get("iso_code"),
        "region_name": _name(region, locales),
        "longitude": longitude,
        "latitude": latitude,
        "longlat": [longitude, latitude],
        "time_zone": location.get("time_zone"),
        "metro_code": location.get("metro_code"),
    }
    if wanted is None:
        return fields
    return {shown: fields[name] for shown, name in wanted}
