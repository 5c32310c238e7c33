"""The web UI's HTTP side: the page, its JSON endpoints, basic auth, replay."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from pathlib import Path
from typing import Any, Final

import orjson
import tornado.web
from tornado.ioloop import IOLoop

from gp_celery.broker.letters import LetterStore, Stored
from gp_celery.stats.access import FleetAccess
from gp_celery.stats.basic_auth import CHALLENGE, authorized
from gp_celery.stats.fleet import FleetTotals
from gp_celery.stats.table import rates
from gp_celery.web.command import AUTH_ENV
from gp_celery.web.layout import graph_of

STATIC: Final = Path(__file__).parent / "static"
LISTED: Final = 500
"""Dead letters the page lists at most (the newest); `gp-celery dlq` reaches all."""
REPLAY_HEADER: Final = "X-GP-Celery"
"""A replay must carry this header: a cross-site form or image cannot send it, so another
site open in the operator's browser cannot make it replay."""


class WebError(RuntimeError):
    """The web UI cannot start as asked (e.g. bound beyond loopback without credentials)."""


def is_loopback(bind: str) -> bool:
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return bind == "localhost"


def credentials_for(bind: str) -> str | None:
    """GP_WEB_AUTH ("user:password"); required when the UI is reachable beyond loopback."""
    found = os.environ.get(AUTH_ENV) or None
    if found is not None and ":" not in found:
        raise WebError(f"{AUTH_ENV} must be user:password")
    if found is None and not is_loopback(bind):
        raise WebError(
            f"bound to {bind}, beyond loopback: set {AUTH_ENV}=user:password so the page "
            "(which can replay dead letters) is behind basic auth"
        )
    return found


class Fleet:
    """What every handler reads: the config, the fleet's Redis, the last reading."""

    def __init__(self, access: FleetAccess, letters: LetterStore) -> None:
        self.access = access
        self.config = access.config
        self.client = access.client
        self.letters = letters
        self.graph = graph_of(access.config)
        self._previous: FleetTotals | None = None
        self.replaying = threading.Lock()
        """One replay at a time from this page (each removes what it ran)."""

    def stats(self) -> dict[str, Any]:
        now = self.access.read()
        per_second = rates(now, self._previous)
        if self._previous is None or now.read_at - self._previous.read_at >= 1.0:
            self._previous = now
        found = now.as_json()
        found["rates"] = per_second
        found["alive"] = len(now.alive())
        return found

    def dead_letters(self) -> list[dict[str, Any]]:
        listed = []
        for record in self.letters.read()[-LISTED:]:
            letter = record.letter
            listed.append(
                {
                    "id": record.id,
                    "kind": letter.kind if letter else "unreadable",
                    "node": letter.node if letter else "",
                    "error": letter.error if letter else record.problem,
                    "events": len(letter.events) if letter else 0,
                    "time": letter.time if letter else 0,
                }
            )
        return listed[::-1]

    def replay(self, record_id: str) -> dict[str, Any]:
        from gp_celery.dlq.replay import plan_replay, replay
        from gp_celery.modules.base import ModuleContext

        with self.replaying:
            chosen: list[Stored] = [r for r in self.letters.read() if r.id == record_id]
            if not chosen:
                return {"error": f"no dead letter has the id {record_id} (replayed already?)"}
            plan = plan_replay(self.config, chosen)
            if not plan.runnable:
                return {"error": "; ".join(why for _record, why in plan.left)}
            context = ModuleContext(
                redis=self.client, process=f"{socket.gethostname()}:{os.getpid()}"
            )
            outcome = replay(self.config, self.letters, plan, context)
        return {
            "records": outcome.records,
            "events": outcome.events,
            "written": dict(outcome.written),
            "dead_lettered": outcome.dead_lettered,
        }


class _Handler(tornado.web.RequestHandler):
    def initialize(self, fleet: Fleet, credentials: str | None) -> None:
        self.fleet = fleet
        self.credentials = credentials

    def prepare(self) -> None:
        if self.credentials is None:
            return
        if not authorized(self.request.headers.get("Authorization", ""), self.credentials):
            self.set_header(*CHALLENGE)
            raise tornado.web.HTTPError(401)

    def send_json(self, value: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(orjson.dumps(value))


class PageHandler(_Handler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish((STATIC / "index.html").read_bytes())


class AssetHandler(_Handler):
    TYPES: Final = {".js": "text/javascript", ".css": "text/css"}

    def get(self, name: str) -> None:
        path = STATIC / name
        if path.suffix not in self.TYPES or path.parent != STATIC or not path.is_file():
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", f"{self.TYPES[path.suffix]}; charset=utf-8")
        self.finish(path.read_bytes())


class GraphHandler(_Handler):
    def get(self) -> None:
        self.send_json(self.fleet.graph)


class StatsHandler(_Handler):
    async def get(self) -> None:
        self.send_json(await IOLoop.current().run_in_executor(None, self.fleet.stats))


class DeadLettersHandler(_Handler):
    async def get(self) -> None:
        self.send_json(await IOLoop.current().run_in_executor(None, self.fleet.dead_letters))


class ReplayHandler(_Handler):
    async def post(self, record_id: str) -> None:
        if self.request.headers.get(REPLAY_HEADER) != "replay":
            raise tornado.web.HTTPError(403, reason=f"missing header {REPLAY_HEADER}")
        outcome = await IOLoop.current().run_in_executor(None, self.fleet.replay, record_id)
        if "error" in outcome:
            self.set_status(409)
        self.send_json(outcome)


def make_app(fleet: Fleet, credentials: str | None) -> tornado.web.Application:
    shared = {"fleet": fleet, "credentials": credentials}
    return tornado.web.Application(
        [
            (r"/", PageHandler, shared),
            (r"/static/([\w.-]+)", AssetHandler, shared),
            (r"/api/graph", GraphHandler, shared),
            (r"/api/stats", StatsHandler, shared),
            (r"/api/dead-letters", DeadLettersHandler, shared),
            (r"/api/dead-letters/([0-9a-f]+)/replay", ReplayHandler, shared),
        ]
    )
