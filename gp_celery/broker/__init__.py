"""Everything that talks to the broker and to Redis, in one place.

``settings`` says where they are (read once per process); ``redis`` makes clients;
``store`` keeps chunks and batches by key; ``messages`` sends stage tasks; ``letters``
keeps dead letters and parked chunks; ``sweep`` sends again what lost its message;
``probe`` reads queue depths and memory for backpressure.
"""

from __future__ import annotations

from gp_celery.broker.settings import BrokerSettings, mask

__all__ = ["BrokerSettings", "mask"]
