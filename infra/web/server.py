"""Serving the web view with uvicorn on a socket bound here, so a port of 0 gets a free one
and the address is known before the first request."""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Callable

import uvicorn

from smsledger.infra.bootstrap import Ledger
from smsledger.infra.web.app import build_app
from smsledger.infra.web.pages import LedgerView

LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; OSError says why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def serve(ledger: Ledger, sock: socket.socket, announce: Callable[[str], None]) -> None:
    """Serve until interrupted (SIGINT or SIGTERM end it gracefully)."""
    host, port = sock.getsockname()[:2]
    loopback = is_loopback(host)
    allowed = [*LOOPBACK_NAMES, host] if loopback else ["*"]
    if not loopback:
        sys.stderr.write(f"serving beyond loopback on {host}: the pages have no login; "
                         "anyone who can reach the port reads the ledger\n")
    app = build_app(LedgerView(ledger), allowed)
    shown = f"[{host}]" if ":" in host else host
    announce(f"serving the ledger {ledger.settings.store} on http://{shown}:{port}/")
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
