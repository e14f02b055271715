"""``make bench``: Steward through the langgraph-sdk client against raw LangGraph in one process.

Two graphs: ``ping`` (4 plain nodes, one conditional edge, no model) and ``refund`` on its auto-approve path
(tools, policy, audit, the rules model). For each:

* raw LangGraph + the stock ``AsyncPostgresSaver`` in one process (and Steward's lock-free pooled saver), ms per
  run sequentially and runs/s with 200 concurrent runs;
* Steward served by ``steward serve`` and driven by the official SDK client: p50/p95 of ``runs.wait``
  sequentially and runs/s with 200 concurrent clients.

Then background runs waiting on a model: BENCH_BACKGROUND_RUNS (200) refund runs created at once through the SDK on
one server process and joined, once on the rules model and once on an OpenAI-compatible model server answering
after BENCH_MODEL_LATENCY_MS (300); the ratio of the two rates says how much waiting on a model costs (target
>= 0.9). Peak RSS of the server and peak database connections are reported with them.

Every configuration uses durable checkpoints (``durability="sync"``). Numbers land in ``reports/bench.json``.
Sizes: BENCH_SEQUENTIAL (default 200), BENCH_CLIENTS (200), BENCH_RUNS_PER_CLIENT (5); the server runs one
process per CPU unless STEWARD_SERVER_PROCESSES says otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Generator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph_sdk import get_client
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from rich.console import Console
from rich.table import Table

from evals.model_server import model_server
from evals.scoreboard import percentile
from graphs import WORKFLOWS
from steward import db, keys, retention, sandbox, tracing
from steward.checkpoint import PooledPostgresSaver
from steward.pool import one, trusted
from steward.services import Services, StewardContext
from steward.serving import free_port, serve_in_thread, wait_until_up
from steward.settings import load_settings
from steward.workflow import load_catalog

SEQUENTIAL = int(os.environ.get("BENCH_SEQUENTIAL", 200))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", 200))
PER_CLIENT = int(os.environ.get("BENCH_RUNS_PER_CLIENT", 5))
BACKGROUND = int(os.environ.get("BENCH_BACKGROUND_RUNS", 200))
MODEL_LATENCY_MS = int(os.environ.get("BENCH_MODEL_LATENCY_MS", 300))
SCENARIOS = set(os.environ.get("BENCH_SCENARIOS", "sdk,background,storage,approvals").split(","))
"""``sdk`` (raw LangGraph against Steward through the SDK), ``background`` (runs waiting on a model), ``storage``
(bytes per completed run before and after retention, and the sweeper's rate) and ``approvals`` (the inbox and
thread search with 10,000 runs waiting for people)."""
STORAGE_RUNS = int(os.environ.get("BENCH_STORAGE_RUNS", 200))
WAITING = int(os.environ.get("BENCH_WAITING", 10_000))
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


async def raw(services: Services, workflow: str, saver_cls: type, make_input) -> dict[str, float]:
    """Raw LangGraph in this process: the graph compiled with ``saver_cls`` on its own pool."""
    saver = saver_cls(services.pool)
    compiled = WORKFLOWS[workflow].make_graph().compile(checkpointer=saver)
    graph = cast(CompiledStateGraph[Any, StewardContext, Any, Any], compiled)
    context = StewardContext(tenant=TENANT, user="bench", services=services)

    async def one(i: int) -> None:
        config = RunnableConfig(configurable={"thread_id": str(uuid.uuid4())}, recursion_limit=64)
        result = await graph.ainvoke(make_input(i), config, context=context, durability="sync")
        assert "__interrupt__" not in result and result.get("outcome", {"status": "completed"})

    for i in range(10):  # warm up
        await one(i)
    sequential = [await timed(lambda i=i: one(i)) for i in range(SEQUENTIAL)]
    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(CLIENTS * PER_CLIENT)))
    throughput = CLIENTS * PER_CLIENT / (time.perf_counter() - started)
    return {
        "p50_ms": percentile(sequential, 0.5),
        "p95_ms": percentile(sequential, 0.95),
        "mean_ms": statistics.fmean(sequential),
        "runs_per_s": throughput,
    }


async def served(url: str, key: str, workflow: str, make_input) -> dict[str, float]:
    """Steward through the SDK: sequential runs.wait, then CLIENTS clients each waiting on its own runs."""

    async def fresh_threads(client, n: int) -> list[str]:
        return [(await client.threads.create())["thread_id"] for _ in range(n)]

    async with get_client(url=url, api_key=key) as client:
        threads = await fresh_threads(client, SEQUENTIAL + 10)
        for thread in threads[:10]:  # warm up
            await client.runs.wait(thread, workflow, input=make_input(0))
        sequential = [
            await timed(lambda t=t, i=i: client.runs.wait(t, workflow, input=make_input(i)))
            for i, t in enumerate(threads[10:])
        ]
    clients = [get_client(url=url, api_key=key) for _ in range(CLIENTS)]
    try:
        work = [await fresh_threads(c, PER_CLIENT) for c in clients]

        async def drive(client, mine: list[str]) -> None:
            for i, thread in enumerate(mine):
                result = await client.runs.wait(thread, workflow, input=make_input(i))
                assert "__error__" not in result and "__interrupt__" not in result, result

        started = time.perf_counter()
        await asyncio.gather(*(drive(c, mine) for c, mine in zip(clients, work, strict=True)))
        throughput = CLIENTS * PER_CLIENT / (time.perf_counter() - started)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    return {
        "p50_ms": percentile(sequential, 0.5),
        "p95_ms": percentile(sequential, 0.95),
        "mean_ms": statistics.fmean(sequential),
        "runs_per_s": throughput,
    }


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


async def statements_per_run(services: Services, make_input) -> int:
    """The SQL statements one refund run on its auto path issues, counted at the driver (run records, policy
    facts, tools, checkpoints and audit events: everything but the SDK's HTTP)."""
    from steward import operations

    count = 0
    execute, executemany = psycopg.AsyncCursor.execute, psycopg.AsyncCursor.executemany

    async def counted(self, *args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        return await execute(self, *args, **kwargs)

    async def counted_many(self, *args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        return await executemany(self, *args, **kwargs)

    await operations.start_run(services, "refund", make_input(0), tenant=TENANT, user="bench")  # warm
    psycopg.AsyncCursor.execute, psycopg.AsyncCursor.executemany = counted, counted_many
    try:
        result = await operations.start_run(services, "refund", make_input(0), tenant=TENANT, user="bench")
    finally:
        psycopg.AsyncCursor.execute, psycopg.AsyncCursor.executemany = execute, executemany
    assert result.status == "completed", result
    return count


class _Drop(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


@contextlib.contextmanager
def traced() -> Generator[None]:
    """Tracing on in this process, every span made and handed to an exporter that drops it: what tracing costs
    beyond the no-op tracer Steward runs with by default."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_Drop()))
    tracing.use(provider)
    try:
        yield
    finally:
        tracing.use(None)


def peak_rss_mb(pid: int) -> float:
    """The high-water mark of a process's resident memory (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def background(url: str, key: str, make_input, database_url: str) -> dict[str, float]:
    """BACKGROUND refund runs created at once and joined; peak connections to the database while they run."""
    peak = 0
    done = asyncio.Event()

    async def sample_connections() -> None:
        nonlocal peak
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            while not done.is_set():
                cur = await conn.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                row = await cur.fetchone()
                peak = max(peak, row[0] if row else 0)
                await asyncio.sleep(0.1)

    async with get_client(url=url, api_key=key, timeout=600) as client:
        threads = [(await client.threads.create())["thread_id"] for _ in range(BACKGROUND)]
        sampler = asyncio.create_task(sample_connections())
        started = time.perf_counter()
        created = await asyncio.gather(
            *(client.runs.create(t, "refund", input=make_input(i)) for i, t in enumerate(threads))
        )
        ended = await asyncio.gather(*(client.runs.join(t, r["run_id"]) for t, r in zip(threads, created, strict=True)))
        elapsed = time.perf_counter() - started
        done.set()
        await sampler
    statuses = {(r.get("outcome") or {}).get("status") for r in ended}
    assert statuses == {"completed"}, statuses
    return {"runs": BACKGROUND, "seconds": elapsed, "runs_per_s": BACKGROUND / elapsed, "peak_connections": peak}


async def model_bound(url: str, key: str, make_input, log: Path) -> dict[str, Any]:
    """The background scenario on one server process: rules model, then the same behind a slow model server."""
    one = {"STEWARD_SERVER_PROCESSES": "1", "STEWARD_WORKERS": os.environ.get("STEWARD_WORKERS", "64")}
    model, model_url = serve_in_thread(model_server(load_catalog("graphs").skills, MODEL_LATENCY_MS / 1000))
    slow = {
        "STEWARD_OPENAI_BASE_URL": f"{model_url}/v1",
        "STEWARD_OPENAI_API_KEY": "bench",
        "STEWARD_MODEL_SMALL": "openai:bench-model",
        "STEWARD_MODEL_MEDIUM": "openai:bench-model",
        "STEWARD_MODEL_LARGE": "openai:bench-model",
    }
    results: dict[str, Any] = {"model_latency_ms": MODEL_LATENCY_MS}
    try:
        for label, extra in (("rules_model", {}), ("slow_model", slow)):
            console.print(f"[bold]refund[/]: {BACKGROUND} background runs on one server process, {label} ...")
            proc, base = start_server(url, log, **one, **extra)
            try:
                results[label] = await background(base, key, make_input, url)
                results[label]["peak_rss_mb"] = peak_rss_mb(proc.pid)
            finally:
                stop_server(proc)
    finally:
        model.should_exit = True
    results["ratio"] = results["slow_model"]["runs_per_s"] / results["rules_model"]["runs_per_s"]
    return results


_ROW_BYTES = """
SELECT (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM checkpoints t WHERE thread_id = ANY(%(ids)s))
     + (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM checkpoint_blobs t WHERE thread_id = ANY(%(ids)s))
     + (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM checkpoint_writes t WHERE thread_id = ANY(%(ids)s))
       AS checkpoints,
       (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM steward.runs t WHERE thread_id = ANY(%(ids)s))
     + (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM steward.threads t WHERE thread_id = ANY(%(ids)s))
       AS records,
       (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM steward.audit_events t WHERE thread_id = ANY(%(ids)s))
       AS audit
"""


async def storage(url: str, key: str, make_input, log: Path) -> dict[str, Any]:
    """STORAGE_RUNS refunds through the SDK; the bytes their rows hold (checkpoints, run and thread records,
    audit events) per completed run, before and after retention keeps the latest checkpoint; the sweep's rate."""
    console.print(f"[bold]refund[/]: {STORAGE_RUNS} runs, then retention (latest checkpoint kept) ...")
    proc, base = start_server(url, log)
    try:
        async with get_client(url=base, api_key=key) as client:
            ids = [(await client.threads.create())["thread_id"] for _ in range(STORAGE_RUNS)]
            for i in range(0, len(ids), 20):
                await asyncio.gather(*(client.runs.wait(t, "refund", input=make_input(0)) for t in ids[i : i + 20]))
    finally:
        stop_server(proc)
    async with Services.open(load_settings(), url=url) as services, services.pool.connection() as conn:
        before = await one(await conn.execute(_ROW_BYTES, {"ids": ids}))
        started = time.perf_counter()
        pruned = await retention.prune(services.pool, services.catalog, timedelta(0), tenant=TENANT)
        seconds = time.perf_counter() - started
        after = await one(await conn.execute(_ROW_BYTES, {"ids": ids}))
    per_run = {k: v / len(ids) / 1024 for k, v in before.items()}, {k: v / len(ids) / 1024 for k, v in after.items()}
    return {
        "runs": len(ids),
        "kb_per_run_before": {**per_run[0], "total": sum(per_run[0].values())},
        "kb_per_run_after": {**per_run[1], "total": sum(per_run[1].values())},
        "checkpoints_deleted": pruned.checkpoints_deleted,
        "sweep_threads_per_s": len(ids) / seconds,
    }


async def approvals_at_scale(url: str, key: str, log: Path) -> dict[str, Any]:
    """WAITING runs waiting for approval in one tenant (copies of a real paused refund's thread row): p50 of the
    first page of GET /approvals and of POST /threads/search by status, their plans, and the server's RSS."""
    console.print(f"[bold]approvals[/]: {WAITING} runs waiting for people in one tenant ...")
    proc, base = start_server(url, log, STEWARD_SERVER_PROCESSES="1")
    try:
        async with get_client(url=base, api_key=key) as client:
            thread = await client.threads.create()
            await client.runs.wait(thread["thread_id"], "refund", input={"ticket_id": "T-B-BIG"})
            rss_before = peak_rss_mb(proc.pid)
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(
                    "INSERT INTO steward.threads (thread_id, tenant, workflow, created_by, metadata, status,"
                    " state_values, interrupts, overrides, updated_at)"
                    " SELECT gen_random_uuid()::text, tenant, workflow, created_by, metadata, status, state_values,"
                    " interrupts, overrides, now() - make_interval(secs => g) FROM steward.threads,"
                    " generate_series(1, %s) g WHERE thread_id = %s",
                    (WAITING, thread["thread_id"]),
                )
                await conn.execute("ANALYZE steward.threads")
                plans = {}
                for name, query in PLANNED.items():
                    cur = await conn.execute(trusted("EXPLAIN " + query), {"tenant": TENANT})
                    plans[name] = "\n".join(row[0] for row in await cur.fetchall())
            inbox = [await timed(lambda: client.http.get("/approvals?limit=50")) for _ in range(100)]
            search = [await timed(lambda: client.threads.search(status="interrupted", limit=10)) for _ in range(100)]
            rss_after = peak_rss_mb(proc.pid)
    finally:
        stop_server(proc)
    Path("reports").mkdir(exist_ok=True)
    Path("reports/bench-plans.txt").write_text("\n\n".join(f"-- {k}\n{v}" for k, v in plans.items()))
    return {
        "waiting": WAITING,
        "approvals_p50_ms": percentile(inbox, 0.5),
        "search_p50_ms": percentile(search, 0.5),
        "indexes_used": all("Index" in plan for plan in plans.values()),
        "rss_mb_before": rss_before,
        "rss_mb_after": rss_after,
    }


PLANNED = {
    "GET /approvals (first page)": "SELECT thread_id FROM steward.threads WHERE tenant = %(tenant)s"
    " AND status = 'interrupted' ORDER BY updated_at ASC LIMIT 50",
    "POST /threads/search status=interrupted": "SELECT thread_id FROM steward.threads WHERE tenant = %(tenant)s"
    " AND status = 'interrupted' ORDER BY created_at DESC LIMIT 10",
}


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def main() -> dict[str, Any]:
    settings = load_settings()
    server = settings.database_url or db.start_embedded_postgres(settings.data_dir)
    name = f"steward_bench_{uuid.uuid4().hex[:8]}"
    db.create_database(server, name, exist_ok=False)
    url = db.with_database(server, name)
    results: dict[str, Any] = {
        "sequential_runs": SEQUENTIAL,
        "clients": CLIENTS,
        "runs_per_client": PER_CLIENT,
        "cpus": os.cpu_count(),
        "durability": "sync",
    }
    proc = None
    try:
        async with Services.open(settings.model_copy(update={"pool_max_size": 40}), url=url) as services:
            runs_needed = 4 * (SEQUENTIAL + 20 + CLIENTS * PER_CLIENT) + 2 * BACKGROUND + STORAGE_RUNS
            await seed(services, runs_needed)
            key = await keys.create_key(services.pool, tenant=TENANT, roles=["admin"], name="bench")
            # the checkpoint tables exist: Services.open migrated them as the owner (the service role may not)
            tickets = Tickets()
            for workflow in ("ping", "refund") if "sdk" in SCENARIOS else ():
                make_input = tickets if workflow == "refund" else inputs_for(workflow)
                console.print(f"[bold]{workflow}[/]: raw LangGraph + stock AsyncPostgresSaver ...")
                stock = await raw(services, workflow, AsyncPostgresSaver, make_input)
                console.print(f"[bold]{workflow}[/]: raw LangGraph + Steward's pooled saver ...")
                pooled = await raw(services, workflow, PooledPostgresSaver, make_input)
                results[workflow] = {"raw_stock_saver": stock, "raw_pooled_saver": pooled}
            if "sdk" in SCENARIOS:
                results["refund"]["statements_per_run"] = await statements_per_run(services, tickets)
                console.print("[bold]refund[/]: the same with OpenTelemetry tracing on (spans made, dropped) ...")
                with traced():
                    results["refund"]["raw_pooled_saver_traced"] = await raw(
                        services, "refund", PooledPostgresSaver, tickets
                    )
        # this process's pool is closed before the servers start: they need the connections
        log = Path(tempfile.gettempdir()) / "steward-bench-server.log"
        if "sdk" in SCENARIOS:
            proc, base = start_server(url, log)
            for workflow in ("ping", "refund"):
                make_input = tickets if workflow == "refund" else inputs_for(workflow)
                console.print(f"[bold]{workflow}[/]: Steward via langgraph-sdk ...")
                results[workflow]["steward_sdk"] = await served(base, key, workflow, make_input)
            stop_server(proc)
            proc = None
        if "background" in SCENARIOS:
            results["background"] = await model_bound(url, key, tickets, log)
        if "storage" in SCENARIOS:
            results["storage"] = await storage(url, key, tickets, log)
        if "approvals" in SCENARIOS:
            results["approvals"] = await approvals_at_scale(url, key, log)
    finally:
        if proc is not None:
            stop_server(proc)
        db.drop_database(server, name)
    return results


def report(results: dict[str, Any]) -> None:
    table = Table(
        title=f"Steward benchmark ({results['cpus']} CPUs, durability=sync, "
        f"{results['clients']} concurrent, {results['sequential_runs']} sequential runs)"
    )
    for column in ("graph", "configuration", "p50 ms", "p95 ms", "mean ms", "runs/s @ concurrency"):
        table.add_column(column, justify="right" if "ms" in column or "/s" in column else "left")
    labels = {
        "raw_stock_saver": "raw LangGraph, stock AsyncPostgresSaver",
        "raw_pooled_saver": "raw LangGraph, Steward PooledPostgresSaver",
        "raw_pooled_saver_traced": "the same, tracing on (spans dropped)",
        "steward_sdk": "Steward server via langgraph-sdk",
    }
    for workflow in ("ping", "refund") if "ping" in results else ():
        for config, label in labels.items():
            if config not in results[workflow]:
                continue
            r = results[workflow][config]
            table.add_row(
                workflow,
                label,
                f"{r['p50_ms']:.1f}",
                f"{r['p95_ms']:.1f}",
                f"{r['mean_ms']:.1f}",
                f"{r['runs_per_s']:.0f}",
            )
    if "ping" in results:
        console.print(table)
    if bg := results.get("background"):
        table = Table(title=f"{BACKGROUND} background refund runs, one server process, STEWARD_WORKERS in flight")
        for column in ("model", "seconds", "runs/s", "peak RSS MB", "peak connections"):
            table.add_column(column, justify="left" if column == "model" else "right")
        for label, name in (
            ("rules_model", "rules (in process)"),
            ("slow_model", f"HTTP, {bg['model_latency_ms']} ms"),
        ):
            r = bg[label]
            table.add_row(
                name,
                f"{r['seconds']:.1f}",
                f"{r['runs_per_s']:.1f}",
                f"{r['peak_rss_mb']:.0f}",
                str(r["peak_connections"]),
            )
        console.print(table)
        console.print(
            f"target (model latency costs almost no throughput): ratio >= 0.9: {bg['ratio']:.2f} "
            f"{'met' if bg['ratio'] >= 0.9 else 'MISSED'}"
        )
    if st := results.get("storage"):
        before, after = st["kb_per_run_before"], st["kb_per_run_after"]
        console.print(
            f"storage per completed refund ({st['runs']} runs): {before['total']:.1f} KB (checkpoints"
            f" {before['checkpoints']:.1f}, run and thread {before['records']:.1f}, audit {before['audit']:.1f})"
            f" -> after retention {after['total']:.1f} KB (checkpoints {after['checkpoints']:.1f});"
            f" target <= 12 KB: {'met' if after['total'] <= 12 else 'MISSED'}; sweep"
            f" {st['sweep_threads_per_s']:.0f} threads/s"
        )
    if ap := results.get("approvals"):
        console.print(
            f"{ap['waiting']} runs waiting in one tenant: GET /approvals p50 {ap['approvals_p50_ms']:.1f} ms,"
            f" /threads/search p50 {ap['search_p50_ms']:.1f} ms (target <= 20 ms:"
            f" {'met' if max(ap['approvals_p50_ms'], ap['search_p50_ms']) <= 20 else 'MISSED'}); indexes used:"
            f" {ap['indexes_used']} (plans in reports/bench-plans.txt); server RSS {ap['rss_mb_before']:.0f} MB"
            f" -> {ap['rss_mb_after']:.0f} MB"
        )
    if "ping" not in results:
        return
    refund, ping = results["refund"], results["ping"]["steward_sdk"]
    ratio = refund["steward_sdk"]["runs_per_s"] / ping["runs_per_s"]
    console.print(
        f"targets (refund via SDK): statements per run <= 20: {refund['statements_per_run']}"
        f" {'met' if refund['statements_per_run'] <= 20 else 'MISSED'}; p50 <= 35 ms:"
        f" {refund['steward_sdk']['p50_ms']:.1f} ms {'met' if refund['steward_sdk']['p50_ms'] <= 35 else 'MISSED'};"
        f" throughput >= 0.5 x ping: {ratio:.2f} {'met' if ratio >= 0.5 else 'MISSED'}"
    )
    console.print(
        f"targets (ping via SDK): p50 <= 15 ms: {ping['p50_ms']:.1f} ms "
        f"{'met' if ping['p50_ms'] <= 15 else 'MISSED'}; >= 300 runs/s: {ping['runs_per_s']:.0f} "
        f"{'met' if ping['runs_per_s'] >= 300 else 'MISSED'}"
    )


if __name__ == "__main__":
    measured = asyncio.run(main())
    Path("reports").mkdir(exist_ok=True)
    Path("reports/bench.json").write_text(json.dumps(measured, indent=2))
    report(measured)
