"""`smsledger serve`: the read-only web view on loopback."""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any

from smsledger.infra.cli.inputs import UsageError
from smsledger.infra.settings import Settings

DEFAULT_PORT = 8080


def add_serve_commands(sub: Any, common: argparse.ArgumentParser, command: Any) -> None:
    p = sub.add_parser("serve", parents=[common],
                       help="a read-only web view for support and analysts (loopback)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; the pages have no login)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port (default {DEFAULT_PORT}; 0: a free one, printed)")
    command("serve")(cmd_serve)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if not all(importlib.util.find_spec(name) for name in ("starlette", "uvicorn", "jinja2")):
        raise UsageError("the web view needs the 'web' extra: pip install 'smsledger[web]'")
    from smsledger.infra.web.server import listen, serve

    try:
        sock = listen(args.host, args.port)
    except OSError as error:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: "
                         f"{error.strerror or error}") from None
    from smsledger.infra.bootstrap import bootstrap

    ledger = bootstrap(settings)
    try:
        serve(ledger, sock, lambda line: print(line, flush=True))
    finally:
        ledger.close()
        sock.close()
    return 0
