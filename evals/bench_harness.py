"""What the benchmarks share: the bench tenant and its sandbox, timing, and ``steward serve`` processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from steward import sandbox
from steward.services import Services
from steward.serving import free_port, wait_until_up

TENANT = "bench"


console = Console()


class Tickets:
    """Refund inputs: one fresh ticket (and invoice) per run, so every run takes the auto-approve path."""

    def __init__(self) -> None:
        self.next = 0

    def __call__(self, _: int) -> dict[str, Any]:
        self.next += 1
        return {"ticket_id": f"T-B{self.next}"}


def inputs_for(workflow: str) -> Callable[[int], dict[str, Any]]:
    return Tickets() if workflow == "refund" else (lambda i: {"n": i})


async def seed(services: Services, count: int) -> None:
    data = {
        "tenant": TENANT,
        "customers": [{"id": "C-B", "name": "Bench"}],
        "invoices": [{"id": f"INV-B{i}", "customer_id": "C-B", "amount_usd": "59.00"} for i in range(1, count)]
        + [{"id": "INV-BBIG", "customer_id": "C-B", "amount_usd": "200.00"}],
        "tickets": [
            {
                "id": f"T-B{i}",
                "customer_id": "C-B",
                "subject": "Duplicate charge",
                "body": f"Please refund $38.50 on invoice INV-B{i}.",
            }
            for i in range(1, count)
        ]
        + [{"id": "T-B-BIG", "customer_id": "C-B", "subject": "Refund", "body": "Refund $120.00 on INV-BBIG."}],
    }
    await sandbox.load(
        services.pool, sandbox.parse_seed(data, services.catalog.systems), services.catalog.systems, reset=True
    )


async def timed(run: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await run()
    return (time.perf_counter() - started) * 1000


def start_server(url: str, log: Path, **settings: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "STEWARD_DATABASE_URL": url,
        "STEWARD_WORKERS": "0",
        "STEWARD_POOL_MAX_SIZE": os.environ.get("STEWARD_POOL_MAX_SIZE", "40"),
        "STEWARD_SERVER_PROCESSES": os.environ.get("STEWARD_SERVER_PROCESSES", str(os.cpu_count() or 1)),
        **settings,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "steward.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc)
    except RuntimeError:
        proc.kill()
        raise RuntimeError(f"server did not start; see {log}") from None
    return proc, base


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def peak_rss_mb(pid: int) -> float:
    """The high-water mark of a process's resident memory (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
