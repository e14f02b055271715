"""``steward serve`` and ``steward worker``: the long-running processes."""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import logging
import logging.config
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import uvicorn
from uvicorn.config import LOGGING_CONFIG

from steward import db, keys, quickstart
from steward.errors import StewardError
from steward.services import Services
from steward.settings import Settings, load_settings
from steward.worker import WorkerPool

GC_THRESHOLDS = (10_000, 10, 10)
"""Collections of the youngest generation every 10,000 net allocations instead of CPython's 700."""


def tune_garbage_collector() -> None:
    """Make CPython's cycle collector cheap for a process that runs many graphs at once: everything alive once the
    process is set up (modules, compiled graphs, pools) is frozen out of collections (garbage collected first),
    and the youngest generation is collected less often. A run allocates tens of thousands of short-lived objects
    (states, messages, rows); with the defaults a server process under load spent 13% of its CPU collecting
    (measured with ``gc.callbacks``, 100 clients of refund runs), 1.7% with this. Cycles are still collected, a
    little later."""
    gc.collect()  # garbage frozen would never be freed
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


QUIET_LOGGERS = ("httpx", "httpx2")
"""HTTP clients that log every request at INFO (httpx2 is the openai SDK's): every model call would be a line."""


def log_config() -> dict[str, Any]:
    """How ``steward serve`` and ``steward worker`` log: INFO and above to stderr (the access log, workers, sweeps),
    the HTTP clients' per-request lines left out, uvicorn's own loggers as uvicorn sets them. Given to uvicorn, which
    applies it in every server process it starts (a process it spawns does not inherit the parent's logging)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["steward"] = {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    config["handlers"]["steward"] = {
        "class": "logging.StreamHandler",
        "formatter": "steward",
        "stream": "ext://sys.stderr",
    }
    config["root"] = {"level": "INFO", "handlers": ["steward"]}
    config["loggers"] |= {name: {"level": "WARNING"} for name in QUIET_LOGGERS}
    return config


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def serve_in_thread(app: Any) -> tuple[uvicorn.Server, str]:
    """Serve an ASGI app on a free loopback port from a background thread (stand-in services for tests and
    ``make bench``); returns the server (set ``should_exit`` to stop it) and its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"


def wait_until_up(url: str, proc: subprocess.Popen | None = None, timeout_s: float = 60.0) -> None:
    """Poll ``url``/ok until it answers; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f}s")


def _port_taken(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on right now (e.g. another server has it), or None."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _settings() -> Settings | None:
    try:
        return load_settings()
    except StewardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


async def _bootstrap(settings: Settings, url: str) -> dict[str, str]:
    """Migrate; on a database without API keys, create the local admin key and the quickstart tenant's keys."""
    async with Services.open(settings, url=url) as services:
        if settings.auth_disabled or (admin := await keys.ensure_admin_key(services.pool)) is None:
            return {}
        return {"admin": admin, **await quickstart.first_start(services)}


def serve(args: argparse.Namespace) -> int:
    """Start embedded PostgreSQL if no URL is set, print a first admin key, then run uvicorn."""
    settings = _settings()
    if settings is None:
        return 2
    try:
        url = db.resolve_database_url(settings)
        created = asyncio.run(_bootstrap(settings, url))
    except db.DatabaseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    os.environ["STEWARD_DATABASE_URL"] = url  # server processes use the same database
    if settings.server_processes > 1:  # /metrics sums the counters of every server process
        metrics_dir = (settings.data_dir / "metrics").resolve()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    where = (
        f"embedded PostgreSQL in {settings.data_dir.resolve() / 'pgdata'}"
        if settings.database_url is None
        else f"PostgreSQL at {db.describe(url)}"
    )
    host, port = args.host or settings.host, args.port or settings.port
    if problem := _port_taken(host, port):
        print(
            f"error: cannot serve on {host}:{port}: {problem}; choose another with --port or STEWARD_PORT",
            file=sys.stderr,
        )
        return 1
    print(f"steward: serving on http://{host}:{port} (API docs at /docs), {where}", file=sys.stderr)
    if created:
        print(
            f"""steward: first start on this database: keys are shown only now (later starts print none).
  admin of tenant 'default':        {created["admin"]}
  tenant '{quickstart.TENANT}' (the workflows' demo sandboxes loaded):
    runner:                         {created["runner"]}
    approver:                       {created["approver"]}
Try it:  STEWARD_URL=http://{host}:{port} STEWARD_RUNNER_KEY={created["runner"]} \\
         STEWARD_APPROVER_KEY={created["approver"]} .venv/bin/python examples/quickstart.py
Keys go in the x-api-key header (langgraph_sdk.get_client(url=..., api_key=...)).""",
            file=sys.stderr,
        )
    if settings.auth_disabled:
        print("steward: WARNING authentication is disabled (STEWARD_AUTH_DISABLED)", file=sys.stderr)
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=settings.server_processes,
        log_config=log_config(),
        log_level="warning",
        # longer than clients keep idle connections (httpx, under langgraph-sdk: 5 s), so a client never sends a
        # request down a connection the server is closing at that moment (uvicorn's default is also 5 s)
        timeout_keep_alive=65,
    )
    return 0


async def _work(settings: Settings, concurrency: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Services.open(settings, listen=True) as services:
        tune_garbage_collector()
        pool = WorkerPool(services, concurrency)
        await pool.start()
        print(f"steward: worker {pool.worker} executing up to {concurrency} runs", file=sys.stderr)
        await stop.wait()
        await pool.stop()


def work(args: argparse.Namespace) -> int:
    """Execute queued background runs until SIGINT/SIGTERM."""
    settings = _settings()
    if settings is None:
        return 2
    concurrency = args.concurrency or settings.workers
    if concurrency < 1:
        print("error: --concurrency must be at least 1", file=sys.stderr)
        return 2
    logging.config.dictConfig(log_config())
    try:
        asyncio.run(_work(settings, concurrency))
    except db.DatabaseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
