"""``make bench``: Steward through the langgraph-sdk client against raw LangGraph in one process.

Two graphs: ``ping`` (4 plain nodes, one conditional edge, no model) and ``refund`` on its auto-approve path
(tools, policy, audit, the rules model). For each:

* raw LangGraph + the stock ``AsyncPostgresSaver`` in one process (and Steward's lock-free pooled saver), ms per
  run sequentially and runs/s with 200 concurrent runs;
* Steward served by ``steward serve`` and driven by the official SDK client: p50/p95 of ``runs.wait``
  sequentially and runs/s with 200 concurrent clients.

Then the capacity scenarios of :mod:`evals.bench_capacity`: background runs waiting on a model, storage per run
before and after retention, and the approval inbox with 10,000 runs waiting; BENCH_SCENARIOS picks among ``sdk``,
``background``, ``storage`` and ``approvals`` (default: all).

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
import tempfile
import time
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any, cast

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph_sdk import get_client
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from rich.table import Table

from evals.bench_capacity import BACKGROUND, STORAGE_RUNS, approvals_at_scale, model_bound, report_capacity, storage
from evals.bench_harness import TENANT, Tickets, console, inputs_for, seed, start_server, stop_server, timed
from evals.scoreboard import percentile
from graphs import WORKFLOWS
from steward import db, keys, tracing
from steward.checkpoint import PooledPostgresSaver
from steward.services import Services, StewardContext
from steward.settings import load_settings

SEQUENTIAL = int(os.environ.get("BENCH_SEQUENTIAL", 200))


CLIENTS = int(os.environ.get("BENCH_CLIENTS", 200))


PER_CLIENT = int(os.environ.get("BENCH_RUNS_PER_CLIENT", 5))


SCENARIOS = set(os.environ.get("BENCH_SCENARIOS", "sdk,background,storage,approvals").split(","))
"""``sdk`` (raw LangGraph against Steward through the SDK), ``background`` (runs waiting on a model), ``storage``
(bytes per completed run before and after retention, and the sweeper's rate) and ``approvals`` (the inbox and
thread search with 10,000 runs waiting for people)."""


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
    report_capacity(results)
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
