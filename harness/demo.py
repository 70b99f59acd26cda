"""Embedded demo vendors: their profiles and the loopback server that plays their endpoints.

Every plugin contributes routes through ``harness_demo_routes``; they are served
together by one uvicorn server on 127.0.0.1 and an ephemeral port, whose origin
the demo profiles read as ``${HARNESS_DEMO_URL}``.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

VARIANTS = ("good", "poor")


class DemoError(Exception):
    """The demo vendors or their server are unavailable."""


def fixtures_dir() -> Path:
    """``fixtures/vendors`` of the source tree (or ``$HARNESS_FIXTURES``)."""
    override = os.environ.get("HARNESS_FIXTURES")
    base = Path(override) if override else Path(__file__).resolve().parents[1] / "fixtures"
    vendors = base / "vendors"
    if not vendors.is_dir():
        raise DemoError(f"demo vendors not found at {vendors}; install the harness from its source tree "
                        "(pip install -e .) or set HARNESS_FIXTURES")
    return vendors


def vendor_dir(variant: str) -> Path:
    if variant not in VARIANTS:
        raise DemoError(f"unknown demo vendor {variant!r} (choose from {', '.join(VARIANTS)})")
    return fixtures_dir() / f"demo-{variant}"


class DemoServer:
    """Serve routes on 127.0.0.1 from a background thread; use as a context manager."""

    def __init__(self, routes: list[Any], host: str = "127.0.0.1", port: int = 0, start_timeout: float = 15.0) -> None:
        import uvicorn
        from starlette.applications import Starlette

        self.app = Starlette(routes=routes)
        config = uvicorn.Config(self.app, host=host, port=port, log_level="warning", lifespan="off",
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.run, name="harness-demo-server", daemon=True)
        self.start_timeout = start_timeout
        self.url = ""

    def __enter__(self) -> "DemoServer":
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise DemoError("the demo server did not start on 127.0.0.1")
            time.sleep(0.02)
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


def demo_routes(hook, variant: str) -> list[Any]:
    routes: list[Any] = []
    for contributed in hook.harness_demo_routes(vendor_dir=vendor_dir(variant), variant=variant):
        routes.extend(contributed or [])
    return routes
