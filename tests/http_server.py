"""Serve an ASGI app with uvicorn in a background thread (for the tests' stand-in HTTP services)."""

from __future__ import annotations

import threading
import time

import uvicorn

from steward.serving import free_port


def serve_in_thread(app) -> tuple[uvicorn.Server, str]:
    """Start ``app`` on a free loopback port; returns the server (set ``should_exit`` to stop) and its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"
