"""HTTP basic auth as the metrics endpoints and the web page check it."""

from __future__ import annotations

import base64
import hmac
from typing import Final

CHALLENGE: Final = ("WWW-Authenticate", 'Basic realm="gp-celery"')


def authorized(header: str, credentials: str) -> bool:
    """Whether an Authorization header carries ``credentials`` ("user:password"), compared
    in constant time."""
    expected = "Basic " + base64.b64encode(credentials.encode()).decode()
    return hmac.compare_digest(header.encode(), expected.encode())
