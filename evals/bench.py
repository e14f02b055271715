"""``make bench``: Steward through the langgraph-sdk client against raw LangGraph in one process.

Two graphs: ``ping`` (4 plain nodes, one conditional edge, no model) and ``refund`` on its auto-approve path
(tools, policy, audit, the rules model). For each:

* raw LangGraph + the stock ``AsyncPostgresSaver`` in one process (and Steward's lock-free pooled saver), ms per
  run sequentially and runs/s with 200 concurrent runs;
* Steward served by ``steward serve`` and driven by the official SDK client: p50/p95 of ``runs.wait``
  sequentially and runs/s with 200 concurrent clients.

Then the capacity scenarios of :mod:`evals.bench_capacity`: background runs waiting on a model, storage per run
before and after retention, and the approval inbox with 10,000 runs waiting.

Every configuration uses durable checkpoints (``durability="sync"``). Numbers land in ``reports/bench.json``,
the served processes' output in ``reports/bench-server.log`` (an error logged there fails the bench). Sizes: see
:class:`evals.bench_harness.Sizes`; ``--quick`` runs every scenario small, within a minute. The server runs one
process per CPU unless STEWARD_SERVER_PROCESSES says otherwise.

Usage: ``python -m evals.bench [--quick] [--scenarios sdk,background,storage,approvals]`` (``make bench``,
``make bench-quick``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
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

from evals.bench_capacity import WARM_UP_RUNS, approvals_at_scale, model_bound, report_capacity, storage
from evals.bench_harness import (
    LOG,
    TENANT,
    Served,
    ServerErrors,
    Sizes,
    Tickets,
    console,
    inputs_for,
    note_incomplete,
    progress,
    seed,
    stage,
    start_server,
    stop_server,
    timed,
)
from evals.scoreboard import percentile
from graphs import WORKFLOWS
from steward import db, keys, tracing
from steward.checkpoint import PooledPostgresSaver
from steward.services import Services, StewardContext
from steward.settings import load_settings

SCENARIOS = ("sdk", "background", "storage", "approvals")
"""``sdk`` (raw LangGraph against Steward through the SDK), ``background`` (runs waiting on a model), ``storage``
(bytes per completed run before and after retention, and the sweeper's rate) and ``approvals`` (the inbox and
thread search with 10,000 runs waiting for people)."""


async def raw(services: Services, workflow: str, saver_cls: type, make_input, sizes: Sizes, label: str) -> dict:
    """Raw LangGraph in this process: the graph compiled with ``saver_cls`` on its own pool."""
    saver = saver_cls(services.pool)
    compiled = WORKFLOWS[workflow].make_graph().compile(checkpointer=saver)
    graph = cast(CompiledStateGraph[Any, StewardContext, Any, Any], compiled)
    context = StewardContext(tenant=TENANT, user="bench", services=services)

    incomplete: list[str] = []

    async def one(i: int) -> None:
        config = RunnableConfig(configurable={"thread_id": str(uuid.uuid4())}, recursion_limit=64)
        result = await graph.ainvoke(make_input(i), config, context=context, durability="sync")
        note_incomplete(result, incomplete)

    concurrent = sizes.clients * sizes.per_client
    with stage(f"{workflow}: {label}", 10 + sizes.sequential + concurrent) as advance:

        async def counted(i: int) -> None:
            await one(i)
            advance()

        for i in range(10):  # warm up
            await counted(i)
        sequential = [await timed(lambda i=i: counted(i)) for i in range(sizes.sequential)]
        started = time.perf_counter()
        await asyncio.gather(*(counted(i) for i in range(concurrent)))
        throughput = concurrent / (time.perf_counter() - started)
    return {
        "p50_ms": percentile(sequential, 0.5),
        "p95_ms": percentile(sequential, 0.95),
        "mean_ms": statistics.fmean(sequential),
        "runs_per_s": throughput,
        "incomplete": incomplete,
    }


async def served(url: str, key: str, workflow: str, make_input, sizes: Sizes) -> dict[str, Any]:
    """Steward through the SDK: sequential runs.wait, then ``sizes.clients`` clients each waiting on its own runs."""

    async def fresh_threads(client, n: int) -> list[str]:
        return [(await client.threads.create())["thread_id"] for _ in range(n)]

    concurrent = sizes.clients * sizes.per_client
    incomplete: list[str] = []
    with stage(f"{workflow}: Steward via langgraph-sdk", 10 + sizes.sequential + concurrent) as advance:

        async def wait(client, thread: str, i: int) -> dict[str, Any]:
            result = await client.runs.wait(thread, workflow, input=make_input(i))
            note_incomplete(result, incomplete)
            advance()
            return result

        async with get_client(url=url, api_key=key) as client:
            threads = await fresh_threads(client, sizes.sequential + 10)
            for thread in threads[:10]:  # warm up
                await wait(client, thread, 0)
            sequential = [await timed(lambda t=t, i=i: wait(client, t, i)) for i, t in enumerate(threads[10:])]
            # every client's threads made up front: the clients below connect only when they drive their runs
            work = [await fresh_threads(client, sizes.per_client) for _ in range(sizes.clients)]
        clients = [get_client(url=url, api_key=key) for _ in range(sizes.clients)]
        try:

            async def drive(client, mine: list[str]) -> None:
                for i, thread in enumerate(mine):
                    await wait(client, thread, i)

            started = time.perf_counter()
            await asyncio.gather(*(drive(c, mine) for c, mine in zip(clients, work, strict=True)))
            throughput = concurrent / (time.perf_counter() - started)
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
    return {
        "p50_ms": percentile(sequential, 0.5),
        "p95_ms": percentile(sequential, 0.95),
        "mean_ms": statistics.fmean(sequential),
        "runs_per_s": throughput,
        "incomplete": incomplete,
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


async def main(sizes: Sizes, scenarios: set[str]) -> dict[str, Any]:
    settings = load_settings()
    server = settings.database_url or db.start_embedded_postgres(settings.data_dir)
    name = f"steward_bench_{uuid.uuid4().hex[:8]}"
    db.create_database(server, name, exist_ok=False)
    url = db.with_database(server, name)
    results: dict[str, Any] = {
        "sequential_runs": sizes.sequential,
        "clients": sizes.clients,
        "runs_per_client": sizes.per_client,
        "cpus": os.cpu_count(),
        "durability": "sync",
    }
    sdk: Served | None = None
    try:
        async with Services.open(settings.model_copy(update={"pool_max_size": 40}), url=url) as services:
            concurrent = sizes.clients * sizes.per_client
            # a fresh ticket per refund: raw and served runs of the SDK scenario (with warm-ups), the background
            # scenario's three models, the storage runs
            runs_needed = (
                4 * (sizes.sequential + 20 + concurrent)
                + 3 * sizes.model_rounds * (sizes.background + WARM_UP_RUNS)
                + sizes.storage_runs
            )
            await seed(services, runs_needed)
            key = await keys.create_key(services.pool, tenant=TENANT, roles=["admin"], name="bench")
            # the checkpoint tables exist: Services.open migrated them as the owner (the service role may not)
            tickets = Tickets()
            for workflow in ("ping", "refund") if "sdk" in scenarios else ():
                make_input = tickets if workflow == "refund" else inputs_for(workflow)
                stock = await raw(services, workflow, AsyncPostgresSaver, make_input, sizes, "raw, stock saver")
                pooled = await raw(services, workflow, PooledPostgresSaver, make_input, sizes, "raw, pooled saver")
                results[workflow] = {"raw_stock_saver": stock, "raw_pooled_saver": pooled}
            if "sdk" in scenarios:
                results["refund"]["statements_per_run"] = await statements_per_run(services, tickets)
                with traced():
                    results["refund"]["raw_pooled_saver_traced"] = await raw(
                        services, "refund", PooledPostgresSaver, tickets, sizes, "raw, pooled saver, traced"
                    )
        # this process's pool is closed before the servers start: they need the connections
        if "sdk" in scenarios:
            sdk = start_server(url)
            for workflow in ("ping", "refund"):
                make_input = tickets if workflow == "refund" else inputs_for(workflow)
                results[workflow]["steward_sdk"] = await served(sdk.url, key, workflow, make_input, sizes)
            sdk, running = None, sdk
            stop_server(running)
        if "background" in scenarios:
            results["background"] = await model_bound(url, key, tickets, sizes)
        if "storage" in scenarios:
            results["storage"] = await storage(url, key, tickets, sizes)
        if "approvals" in scenarios:
            results["approvals"] = await approvals_at_scale(url, key, sizes)
    finally:
        if sdk is not None:
            with contextlib.suppress(ServerErrors):  # the error in flight says more
                stop_server(sdk)
        db.drop_database(server, name)
    return results


def report(results: dict[str, Any]) -> None:
    table = Table(
        title=f"Steward benchmark ({results['cpus']} CPUs, durability=sync, "
        f"{results['clients']} concurrent, {results['sequential_runs']} sequential runs)"
    )
    for column in ("graph", "configuration", "p50 ms", "p95 ms", "mean ms", "runs/s @ concurrency", "not completed"):
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
                ", ".join(f"{n} {code}" for code, n in Counter(r.get("incomplete", [])).items()) or "0",
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
    graphs = refund["raw_pooled_saver"]["runs_per_s"] / results["ping"]["raw_pooled_saver"]["runs_per_s"]
    console.print(
        f"the same two graphs run by raw LangGraph in this process with the same saver: refund {graphs:.2f} x ping's"
        " throughput (the share the graphs' own work sets, before any server)"
    )
    host = refund["steward_sdk"]["p50_ms"] / refund["raw_pooled_saver"]["p50_ms"]
    console.print(
        f"the host's speed moves these figures: in this run a refund through the SDK took {host:.2f} of the time raw"
        " LangGraph took in this process with the same saver"
    )
    console.print(
        f"targets (ping via SDK): p50 <= 15 ms: {ping['p50_ms']:.1f} ms "
        f"{'met' if ping['p50_ms'] <= 15 else 'MISSED'}; >= 300 runs/s: {ping['runs_per_s']:.0f} "
        f"{'met' if ping['runs_per_s'] >= 300 else 'MISSED'}"
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evals.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every scenario small: within a minute, indicative")
    parser.add_argument(
        "--scenarios",
        default=os.environ.get("BENCH_SCENARIOS", ",".join(SCENARIOS)),
        help=f"comma-separated, among {', '.join(SCENARIOS)} (default: all, or BENCH_SCENARIOS)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose among {', '.join(SCENARIOS)}")
    return args


def run(argv: list[str]) -> int:
    args = parse_args(argv)
    Path("reports").mkdir(exist_ok=True)
    LOG.write_text("")
    started = time.perf_counter()
    try:
        with progress:
            measured = asyncio.run(main(Sizes.from_env(quick=args.quick), set(args.scenarios.split(","))))
    except ServerErrors as exc:
        console.print(f"[bold red]bench failed[/]: {exc}")
        return 1
    measured["seconds"] = time.perf_counter() - started
    measured["quick"] = args.quick
    Path("reports/bench.json").write_text(json.dumps(measured, indent=2))
    report(measured)
    console.print(
        f"bench took {measured['seconds']:.0f} s{' (--quick: figures indicative only)' if args.quick else ''};"
        f" figures in reports/bench.json, server output in {LOG}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
