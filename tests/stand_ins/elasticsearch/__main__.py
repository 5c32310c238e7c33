"""``python -m tests.stand_ins.elasticsearch --port N``: the stand-in as a process."""

from __future__ import annotations

import argparse
import contextlib
import os
import ssl

from tests.stand_ins.elasticsearch.server import StandInServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A stand-in for Elasticsearch (tests only).")
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--version", default="8.18.0", help="the version it claims to be")
    parser.add_argument("--user", action="append", default=[], help="user:password")
    parser.add_argument("--api-key", action="append", default=[], help="id:key")
    parser.add_argument("--certfile", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--keyfile", help="the certificate's private key (PEM)")
    args = parser.parse_args(argv)
    server = StandInServer(args.port, args.version, args.user, args.api_key)
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"listening on {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.1)
    os._exit(0)  # stalled answers may still sleep in their threads


if __name__ == "__main__":
    main()
