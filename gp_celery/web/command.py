"""`gp-celery web`: start the web UI for a config's fleet."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any, Final

from gp_celery.stats.access import add_broker_argument, open_fleet

AUTH_ENV: Final = "GP_WEB_AUTH"
"""user:password for the page's basic auth (required beyond loopback)."""


def add_web_parser(commands: Any, with_config: Any) -> None:
    web = commands.add_parser(
        "web",
        help="a web page: the pipeline as a graph, live rates, queues, dead letters to replay",
        description="Serve a page that draws the pipeline (nodes, receivers, filters, stages) "
        "with each node's live rate and totals, the stages' queue depths and task times, the "
        "processes alive and the config digest each runs, and the dead letters, each of which "
        "can be replayed from the page. It reads the fleet's Redis (--broker, else "
        f"GP_REDIS_URL / GP_BROKER_URL as a worker reads them). Basic auth: {AUTH_ENV}="
        "user:password; required when --bind is not a loopback address.",
        epilog="exit status: 0 stopped by SIGINT/SIGTERM; 1 configuration problem; 2 cannot "
        "serve (port taken, no credentials beyond loopback, no Redis).",
    )
    with_config(web)
    add_broker_argument(web, named=True)
    web.add_argument("--port", type=int, default=8765, help="port to serve on (8765)")
    web.add_argument("--bind", default="127.0.0.1", help="address to serve on (127.0.0.1)")
    web.set_defaults(handler=cmd_web)


def cmd_web(args: argparse.Namespace) -> int:
    from gp_celery.broker.letters import RedisLetters
    from gp_celery.cli import EXIT_OK, EXIT_RUNTIME
    from gp_celery.web.app import Fleet, WebError, credentials_for, make_app

    fleet = open_fleet(args, "web", log=True)
    if isinstance(fleet, int):
        return fleet
    try:
        credentials = credentials_for(args.bind)
    except WebError as error:
        print(f"gp-celery web: {error}", file=sys.stderr)
        return EXIT_RUNTIME
    app = make_app(Fleet(fleet, RedisLetters(fleet.client)), credentials)

    async def serve() -> None:
        server = app.listen(args.port, address=args.bind)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        auth = "basic auth" if credentials else "no auth (loopback only)"
        print(f"gp-celery web: serving http://{args.bind}:{args.port}/ ({auth})", flush=True)
        await stop.wait()
        server.stop()

    try:
        asyncio.run(serve())
    except OSError as error:
        print(f"gp-celery web: cannot serve on {args.bind}:{args.port}: {error}", file=sys.stderr)
        return EXIT_RUNTIME
    return EXIT_OK
