"""Real resources that module tests and examples use: a GeoLite2 database, a DNS server,
a web server. Each fails loudly when it cannot be had; none is mocked."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def geolite2_city() -> Path:
    """The GeoLite2 City database (2018) that the PyPI package maxminddb-geolite2 ships."""
    spec = importlib.util.find_spec("_maxminddb_geolite2")
    if spec is None or spec.origin is None:
        pytest.fail("maxminddb-geolite2 is not installed: pip install -e '.[dev]'")
    path = Path(spec.origin).parent / "GeoLite2-City.mmdb"
    if not path.is_file():
        pytest.fail(f"maxminddb-geolite2 is installed but {path} is missing")
    return path
