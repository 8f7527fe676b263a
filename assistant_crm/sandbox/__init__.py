"""The sandbox: CoreBusiness with demo data plus fake WhatsApp, Messenger, Telegram,
Africa's Talking and Make.com, a simulated phone and an SMS inbox, on one port
(``python -m assistant_crm.sandbox``; ``assistant-crm serve --with-sandbox`` runs it
connected to the app)."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

DEFAULT_API_KEY = "sandbox-key"


def make_server(
    host: str = "127.0.0.1",
    port: int = 8701,
    api_key: str = DEFAULT_API_KEY,
    world: Any = None,
    app_url: str | None = None,
):
    """A sandbox HTTP server bound to ``host:port`` with ``serve_forever()`` / ``shutdown()``.

    ``world`` (a :class:`~assistant_crm.sandbox.world.World`) holds the platform
    credentials; ``app_url`` is where the phone posts webhooks."""
    from assistant_crm.sandbox.server import make_server as _make

    return _make(host, port, api_key, world=world, app_url=app_url)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--host``, ``--port`` (8701), ``--api-key`` (or ASSISTANT_CRM_SANDBOX_API_KEY)."""
    parser = argparse.ArgumentParser(
        prog="assistant-crm sandbox", description="CoreBusiness sandbox with demo data"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8701)
    parser.add_argument(
        "--api-key", default=os.environ.get("ASSISTANT_CRM_SANDBOX_API_KEY") or DEFAULT_API_KEY
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        server = make_server(args.host, args.port, args.api_key)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}")
        return 2
    # The key is not printed: only whether the default is in use.
    default = " (default key 'sandbox-key')" if args.api_key == DEFAULT_API_KEY else ""
    print(
        f"Sandbox on {server.base_url}{default}: demo people at {server.base_url}/ "
        "(run alone it is not connected to an app; `assistant-crm serve --with-sandbox` does that)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
