"""What the benchmarks share: the sizes, the bench tenant and its sandbox, timing, progress, and ``steward serve``
processes whose log is checked for errors when they stop."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from steward import sandbox
from steward.services import Services
from steward.serving import free_port, wait_until_up

TENANT = "bench"


console = Console(width=None if sys.stdout.isatty() else 120)


def note_incomplete(values: dict[str, Any], incomplete: list[str]) -> None:
    """Count a run that did not take the path the figures are for (a refund escalated, e.g. a read timing out
    while 200 runs wait for the pool): reported beside the figures; a failed or paused run stops the bench."""
    assert "__error__" not in values and "__interrupt__" not in values, values
    outcome = values.get("outcome") or {"status": "completed"}  # ping has no outcome
    if outcome["status"] != "completed":
        incomplete.append(outcome.get("reason_code") or outcome["status"])


LOG = Path("reports/bench-server.log")
"""Every served process of a bench run appends here (truncated when the bench starts)."""


@dataclass(frozen=True)
class Sizes:
    """How much work each scenario does. ``--quick`` shrinks every size so the whole bench ends within a minute
    (figures then indicative only); each size may also be set by its BENCH_* variable."""

    sequential: int
    """BENCH_SEQUENTIAL: runs timed one after another per configuration."""
    clients: int
    """BENCH_CLIENTS: concurrent clients in the throughput runs."""
    per_client: int
    """BENCH_RUNS_PER_CLIENT: runs each of those clients makes."""
    background: int
    """BENCH_BACKGROUND_RUNS: background refund runs in the model-latency scenario."""
    model_latency_ms: int
    """BENCH_MODEL_LATENCY_MS: how long the local model server waits before it answers."""
    model_rounds: int
    """BENCH_MODEL_ROUNDS: alternating rounds of the model-latency scenario (each model once a round); each model's
    median round is reported, so the host's load drifting during the scenario weighs on no model alone."""
    storage_runs: int
    """BENCH_STORAGE_RUNS: completed refunds measured for storage."""
    waiting: int
    """BENCH_WAITING: runs waiting for approval in the inbox scenario."""

    @classmethod
    def from_env(cls, *, quick: bool) -> Sizes:
        defaults = (
            dict(sequential=20, clients=10, per_client=3, background=30, model_rounds=1, storage_runs=20, waiting=1000)
            if quick
            else dict(
                sequential=200,
                clients=200,
                per_client=5,
                background=200,
                model_rounds=3,
                storage_runs=200,
                waiting=10_000,
            )
        )
        names = {
            "sequential": "BENCH_SEQUENTIAL",
            "clients": "BENCH_CLIENTS",
            "per_client": "BENCH_RUNS_PER_CLIENT",
            "background": "BENCH_BACKGROUND_RUNS",
            "model_rounds": "BENCH_MODEL_ROUNDS",
            "storage_runs": "BENCH_STORAGE_RUNS",
            "waiting": "BENCH_WAITING",
        }
        values = {field: int(os.environ.get(env, defaults[field])) for field, env in names.items()}
        return cls(**values, model_latency_ms=int(os.environ.get("BENCH_MODEL_LATENCY_MS", 300)))


progress = Progress(
    TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
)
"""The bench's progress bars: one per stage, advanced per run."""


@contextlib.contextmanager
def stage(description: str, total: int) -> Generator[Callable[[], None]]:
    """A progress bar for one stage of ``total`` steps; yields the function that advances it by one."""
    task = progress.add_task(description, total=total)
    try:
        yield lambda: progress.advance(task)
    finally:
        progress.update(task, completed=progress.tasks[task].completed)


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


class ServerErrors(RuntimeError):
    """A served process logged errors during a bench stage: its figures are not to be trusted."""


SERVER_ERROR = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback|too many clients")


@dataclass(frozen=True)
class Served:
    """A server process of the bench: ``steward serve`` or the model server."""

    proc: subprocess.Popen
    url: str
    log_start: int
    """Where its output begins in :data:`LOG`."""


def start_server(url: str, **settings: str) -> Served:
    """``steward serve`` on a free port against ``url``, its output appended to :data:`LOG`."""
    port = free_port()
    env = {
        **os.environ,
        "STEWARD_DATABASE_URL": url,
        "STEWARD_WORKERS": "0",
        "STEWARD_POOL_MAX_SIZE": os.environ.get("STEWARD_POOL_MAX_SIZE", "40"),
        "STEWARD_SERVER_PROCESSES": os.environ.get("STEWARD_SERVER_PROCESSES", str(os.cpu_count() or 1)),
        **settings,
    }
    argv = ["-m", "steward.cli", "serve", "--port", str(port)]
    return _spawn(argv, port, env, f"steward serve on port {port}: {sorted(settings.items())}")


def start_model_server(latency_ms: float) -> Served:
    """The bench's OpenAI-compatible model server (:mod:`evals.model_server`) in a process of its own."""
    port = free_port()
    argv = ["-m", "evals.model_server", "--port", str(port), "--latency-ms", str(latency_ms)]
    return _spawn(argv, port, dict(os.environ), f"model server on port {port}, answering after {latency_ms:g} ms")


def _spawn(argv: list[str], port: int, env: dict[str, str], title: str) -> Served:
    """A Python process serving on ``port``, its output appended to :data:`LOG`, once it answers ``/ok``."""
    LOG.parent.mkdir(exist_ok=True)
    with LOG.open("a") as log:
        log.write(f"--- {title}\n")
        log.flush()
        proc = subprocess.Popen([sys.executable, *argv], env=env, stdout=log, stderr=subprocess.STDOUT)
        start = log.tell()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc)
    except RuntimeError:
        proc.kill()
        raise RuntimeError(f"{title} did not start; see {LOG}") from None
    return Served(proc, base, start)


def stop_server(server: Served) -> None:
    """Stop a served process, then fail loudly if it logged errors (connection exhaustion, tracebacks)."""
    proc = server.proc
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    with LOG.open() as log:
        log.seek(server.log_start)
        errors = [line.rstrip() for line in log if SERVER_ERROR.search(line)]
    if errors:
        shown = "\n  ".join(errors[:10])
        raise ServerErrors(f"the server logged {len(errors)} error line(s) (see {LOG}):\n  {shown}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """The high-water mark of a process's resident memory (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
