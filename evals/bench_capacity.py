"""``make bench``'s capacity scenarios: runs waiting on a model, storage per run before and after retention, and
the approval inbox with 10,000 runs waiting (see :mod:`evals.bench`)."""

from __future__ import annotations

import asyncio
import os
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import psycopg
from langgraph_sdk import get_client
from rich.table import Table

from evals.bench_harness import (
    TENANT,
    Served,
    Sizes,
    console,
    cpu_seconds,
    note_incomplete,
    peak_rss_mb,
    stage,
    start_model_server,
    start_server,
    stop_server,
    timed,
)
from evals.scoreboard import percentile
from steward import retention, threads
from steward.pool import one, trusted
from steward.services import Services
from steward.settings import load_settings

WARM_UP_RUNS = 10
"""Runs each background server completes before it is measured."""
MODELS = ("rules_model", "instant_model", "slow_model")
"""The background scenario's models, in the order each round measures them."""


async def background(
    server: Served, key: str, make_input, database_url: str, runs: int, label: str, model: Served | None = None
) -> dict[str, float]:
    """``runs`` refund runs created at once and joined; peak connections to the database while they run, and the
    CPU per run of the server, of the model server (when ``model`` is one) and of this process (the SDK client)."""
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

    async with get_client(url=server.url, api_key=key, timeout=600) as client:
        # warm up first, as the SDK scenario does: a server's first runs pay one-off costs (the model client's
        # imports and connections) that 200 runs would otherwise carry as a few ms each
        for i in range(WARM_UP_RUNS):
            thread = (await client.threads.create())["thread_id"]
            run = await client.runs.create(thread, "refund", input=make_input(i))
            await client.runs.join(thread, run["run_id"])
        threads = [(await client.threads.create())["thread_id"] for _ in range(runs)]
        cpu_before = cpu_seconds(server.proc.pid)
        model_cpu_before = cpu_seconds(model.proc.pid) if model else 0.0
        client_cpu_before = time.process_time()
        sampler = asyncio.create_task(sample_connections())
        with stage(f"refund: {runs} background runs, {label}", runs) as advance:

            async def join(thread: str, run_id: str) -> dict[str, Any]:
                ended = await client.runs.join(thread, run_id)
                advance()
                return ended

            started = time.perf_counter()
            created = await asyncio.gather(
                *(client.runs.create(t, "refund", input=make_input(i)) for i, t in enumerate(threads))
            )
            ended = await asyncio.gather(*(join(t, r["run_id"]) for t, r in zip(threads, created, strict=True)))
            elapsed = time.perf_counter() - started
            cpu_ms = (cpu_seconds(server.proc.pid) - cpu_before) * 1000
            model_cpu_ms = (cpu_seconds(model.proc.pid) - model_cpu_before) * 1000 if model else 0.0
            client_cpu_ms = (time.process_time() - client_cpu_before) * 1000
        done.set()
        await sampler
    statuses = {(r.get("outcome") or {}).get("status") for r in ended}
    assert statuses == {"completed"}, statuses
    return {
        "runs": runs,
        "seconds": elapsed,
        "runs_per_s": runs / elapsed,
        "server_cpu_ms_per_run": cpu_ms / runs,
        "model_server_cpu_ms_per_run": model_cpu_ms / runs,
        "client_cpu_ms_per_run": client_cpu_ms / runs,
        "peak_connections": peak,
    }


async def model_bound(url: str, key: str, make_input, sizes: Sizes) -> dict[str, Any]:
    """The background scenario on one server process: the rules model, then an OpenAI-compatible model server
    answering at once, then the same answering after ``sizes.model_latency_ms``, in ``sizes.model_rounds``
    alternating rounds; each model's median round stands for it. ``ratio`` (the target) compares the slow model
    with the rules model; ``latency_cost`` compares it with the instant one, so what waiting costs is told apart
    from what the HTTP model client's own CPU costs (an HTTP call is dearer than the in-process rules model however
    fast the server answers)."""
    one = {"STEWARD_SERVER_PROCESSES": "1", "STEWARD_WORKERS": os.environ.get("STEWARD_WORKERS", "64")}
    servers: dict[str, Served] = {}
    rounds: dict[str, list[dict[str, Any]]] = {label: [] for label in MODELS}
    try:
        servers["instant_model"] = start_model_server(0.0)
        servers["slow_model"] = start_model_server(sizes.model_latency_ms)
        for number in range(1, sizes.model_rounds + 1):
            for label in MODELS:
                extra = {}
                if label in servers:
                    extra = {
                        "STEWARD_OPENAI_BASE_URL": f"{servers[label].url}/v1",
                        "STEWARD_OPENAI_API_KEY": "bench",
                        **{f"STEWARD_MODEL_{tier}": "openai:bench-model" for tier in ("SMALL", "MEDIUM", "LARGE")},
                    }
                server = start_server(url, **one, **extra)
                try:
                    named = f"{label}, round {number}/{sizes.model_rounds}"
                    measured = await background(
                        server, key, make_input, url, sizes.background, named, servers.get(label)
                    )
                    rounds[label].append(measured | {"peak_rss_mb": peak_rss_mb(server.proc.pid)})
                finally:
                    stop_server(server)
    finally:
        for model in servers.values():
            model.proc.terminate()
        for model in servers.values():
            stop_server(model)  # fails the bench if a model server logged errors
    results: dict[str, Any] = {"model_latency_ms": sizes.model_latency_ms, "rounds": sizes.model_rounds}
    for label, measured in rounds.items():
        results[label] = sorted(measured, key=lambda r: r["runs_per_s"])[len(measured) // 2]
        results[label]["rounds_runs_per_s"] = [r["runs_per_s"] for r in measured]
    results["ratio"] = results["slow_model"]["runs_per_s"] / results["rules_model"]["runs_per_s"]
    results["latency_cost"] = results["slow_model"]["runs_per_s"] / results["instant_model"]["runs_per_s"]
    # what the ratio follows when the CPUs are the limit: the rules model's server CPU per run over the slow one's
    results["cpu_ratio"] = (
        results["rules_model"]["server_cpu_ms_per_run"] / results["slow_model"]["server_cpu_ms_per_run"]
    )
    results["round_ratios"] = [
        slow["runs_per_s"] / rules["runs_per_s"]
        for slow, rules in zip(rounds["slow_model"], rounds["rules_model"], strict=True)
    ]
    return results


_ROW_BYTES = """
SELECT (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM checkpoints t WHERE thread_id = ANY(%(keys)s))
     + (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM checkpoint_blobs t WHERE thread_id = ANY(%(keys)s))
     + (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM checkpoint_writes t WHERE thread_id = ANY(%(keys)s))
       AS checkpoints,
       (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM steward.runs t WHERE thread_id = ANY(%(ids)s))
     + (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM steward.threads t WHERE thread_id = ANY(%(ids)s))
       AS records,
       (SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM steward.audit_events t WHERE thread_id = ANY(%(ids)s))
       AS audit
"""


async def storage(url: str, key: str, make_input, sizes: Sizes) -> dict[str, Any]:
    """``sizes.storage_runs`` refunds through the SDK; the bytes their rows hold (checkpoints, run and thread
    records, audit events) per completed run, before and after retention keeps the latest checkpoint; the sweep's
    rate."""
    server = start_server(url)
    try:
        async with get_client(url=server.url, api_key=key) as client:
            ids = [(await client.threads.create())["thread_id"] for _ in range(sizes.storage_runs)]
            with stage(f"refund: {len(ids)} runs for storage, then retention", len(ids)) as advance:

                async def run(thread: str) -> None:
                    incomplete: list[str] = []
                    values = await client.runs.wait(thread, "refund", input=make_input(0))
                    note_incomplete(cast(dict[str, Any], values), incomplete)
                    if incomplete:  # e.g. the seeded tickets ran out: bytes per completed run is not the figure
                        raise RuntimeError(f"a storage run did not complete: {incomplete[0]}")
                    advance()

                for i in range(0, len(ids), 20):
                    await asyncio.gather(*(run(t) for t in ids[i : i + 20]))
    finally:
        stop_server(server)
    async with Services.open(load_settings(), url=url) as services, services.pool.connection() as conn:
        rows = {"ids": ids, "keys": [threads.checkpoint_thread(TENANT, t) for t in ids]}
        before = await one(await conn.execute(_ROW_BYTES, rows))
        # the sweep prunes every finished thread of the tenant (the earlier scenarios' too), so its rate counts them
        cur = await conn.execute(
            "SELECT count(*) AS n FROM (SELECT thread_id FROM checkpoints WHERE thread_id LIKE %s"
            " GROUP BY thread_id HAVING count(*) > 1) AS due",
            (f"{TENANT}/%",),
        )
        due = (await one(cur))["n"]
        started = time.perf_counter()
        pruned = await retention.prune(services.checkpointer, services.catalog, timedelta(0), tenant=TENANT)
        seconds = time.perf_counter() - started
        after = await one(await conn.execute(_ROW_BYTES, rows))
    per_run = {k: v / len(ids) / 1024 for k, v in before.items()}, {k: v / len(ids) / 1024 for k, v in after.items()}
    return {
        "runs": len(ids),
        "kb_per_run_before": {**per_run[0], "total": sum(per_run[0].values())},
        "kb_per_run_after": {**per_run[1], "total": sum(per_run[1].values())},
        "checkpoints_deleted": pruned.checkpoints_deleted,
        "threads_swept": due,
        "sweep_threads_per_s": due / seconds,
    }


async def approvals_at_scale(url: str, key: str, sizes: Sizes) -> dict[str, Any]:
    """``sizes.waiting`` runs waiting for approval in one tenant (copies of a real paused refund's thread row): p50
    of the first page of GET /approvals and of POST /threads/search by status, their plans, and the server's
    RSS."""
    server = start_server(url, STEWARD_SERVER_PROCESSES="1")
    try:
        async with get_client(url=server.url, api_key=key) as client:
            thread = await client.threads.create()
            await client.runs.wait(thread["thread_id"], "refund", input={"ticket_id": "T-B-BIG"})
            rss_before = peak_rss_mb(server.proc.pid)
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(
                    "INSERT INTO steward.threads (thread_id, tenant, workflow, created_by, metadata, status,"
                    " state_values, interrupts, overrides, updated_at)"
                    " SELECT gen_random_uuid()::text, tenant, workflow, created_by, metadata, status, state_values,"
                    " interrupts, overrides, now() - make_interval(secs => g) FROM steward.threads,"
                    " generate_series(1, %s) g WHERE thread_id = %s",
                    (sizes.waiting, thread["thread_id"]),
                )
                await conn.execute("ANALYZE steward.threads")
                plans = {}
                for name, query in PLANNED.items():
                    cur = await conn.execute(trusted("EXPLAIN " + query), {"tenant": TENANT})
                    plans[name] = "\n".join(row[0] for row in await cur.fetchall())
            with stage(f"approvals: inbox and search with {sizes.waiting} runs waiting", 200) as advance:

                async def read(request) -> float:
                    elapsed = await timed(request)
                    advance()
                    return elapsed

                inbox = [await read(lambda: client.http.get("/approvals?limit=50")) for _ in range(100)]
                search = [await read(lambda: client.threads.search(status="interrupted", limit=10)) for _ in range(100)]
            rss_after = peak_rss_mb(server.proc.pid)
    finally:
        stop_server(server)
    Path("reports").mkdir(exist_ok=True)
    Path("reports/bench-plans.txt").write_text("\n\n".join(f"-- {k}\n{v}" for k, v in plans.items()))
    return {
        "waiting": sizes.waiting,
        "approvals_p50_ms": percentile(inbox, 0.5),
        "search_p50_ms": percentile(search, 0.5),
        "indexes_used": all(_in_index_order(plan) for plan in plans.values()),
        "rss_mb_before": rss_before,
        "rss_mb_after": rss_after,
    }


def _in_index_order(plan: str) -> bool:
    """Whether a plan reads rows through an index in the order asked (an incremental sort of presorted rows is
    fine; a full sort of every match is not)."""
    return "Index" in plan and not re.search(r"^\s*(->\s*)?Sort\s+\(cost", plan, re.MULTILINE)


PLANNED = {
    "GET /approvals (first page)": "SELECT thread_id FROM steward.threads WHERE tenant = %(tenant)s"
    " AND status = 'interrupted' ORDER BY updated_at ASC, thread_id LIMIT 51",
    "POST /threads/search status=interrupted": "SELECT thread_id FROM steward.threads WHERE tenant = %(tenant)s"
    " AND status = 'interrupted' ORDER BY created_at DESC, thread_id LIMIT 11",
}
"""The order and limits :func:`steward.threads.search` uses (its tie-breaker included: without an index that
carries it, Postgres reads every match and sorts them)."""


def report_capacity(results: dict[str, Any]) -> None:
    """Print the capacity scenarios' figures that ``results`` holds, each with its target."""
    if bg := results.get("background"):
        table = Table(
            title=f"{bg['rules_model']['runs']} background refund runs, one server process, STEWARD_WORKERS in flight"
            f", median of {bg['rounds']} rounds"
        )
        columns = ("model", "seconds", "runs/s", "server CPU ms/run", "model server", "SDK client", "peak RSS MB")
        for column in (*columns, "peak connections"):
            table.add_column(column, justify="left" if column == "model" else "right")
        for label, name in (
            ("rules_model", "rules (in process)"),
            ("instant_model", "HTTP, answering at once"),
            ("slow_model", f"HTTP, {bg['model_latency_ms']} ms"),
        ):
            r = bg[label]
            table.add_row(
                name,
                f"{r['seconds']:.1f}",
                f"{r['runs_per_s']:.1f}",
                f"{r['server_cpu_ms_per_run']:.1f}",
                f"{r['model_server_cpu_ms_per_run']:.1f}" if label != "rules_model" else "-",
                f"{r['client_cpu_ms_per_run']:.1f}",
                f"{r['peak_rss_mb']:.0f}",
                str(r["peak_connections"]),
            )
        console.print(table)
        each = ", ".join(f"{ratio:.2f}" for ratio in bg["round_ratios"])
        console.print(
            f"target (model latency costs almost no throughput): ratio >= 0.9: {bg['ratio']:.2f} "
            f"{'met' if bg['ratio'] >= 0.9 else 'MISSED'} (median rounds of {bg['rounds']}; round by round {each});"
            f" {bg['model_latency_ms']} ms against the same HTTP model answering at once: {bg['latency_cost']:.2f};"
            f" the server's CPU per run on the rules model over that on the {bg['model_latency_ms']} ms one:"
            f" {bg['cpu_ratio']:.2f} (where the CPUs are the limit, the throughput ratio follows this one)"
        )
    if st := results.get("storage"):
        before, after = st["kb_per_run_before"], st["kb_per_run_after"]
        console.print(
            f"storage per completed refund ({st['runs']} runs): {before['total']:.1f} KB (checkpoints"
            f" {before['checkpoints']:.1f}, run and thread {before['records']:.1f}, audit {before['audit']:.1f})"
            f" -> after retention {after['total']:.1f} KB (checkpoints {after['checkpoints']:.1f});"
            f" target <= 12 KB: {'met' if after['total'] <= 12 else 'MISSED'}; sweep"
            f" {st['sweep_threads_per_s']:.0f} threads/s ({st['threads_swept']} threads)"
        )
    if ap := results.get("approvals"):
        console.print(
            f"{ap['waiting']} runs waiting in one tenant: GET /approvals p50 {ap['approvals_p50_ms']:.1f} ms,"
            f" /threads/search p50 {ap['search_p50_ms']:.1f} ms (target <= 20 ms:"
            f" {'met' if max(ap['approvals_p50_ms'], ap['search_p50_ms']) <= 20 else 'MISSED'}); indexes used:"
            f" {ap['indexes_used']} (plans in reports/bench-plans.txt); server RSS {ap['rss_mb_before']:.0f} MB"
            f" -> {ap['rss_mb_after']:.0f} MB"
        )
