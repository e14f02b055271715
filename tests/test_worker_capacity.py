"""Background runs: many in flight per process (they wait on I/O, not on each other), claimed fairly by tenant.

Each test has a database of its own (``fresh_services``): the session's served instance would otherwise claim the
queued runs."""

from __future__ import annotations

import asyncio
import time

from steward import executor, runs, threads
from steward.notify import SAFETY_RECHECK_S, Notifier
from steward.services import Services
from steward.worker import WorkerPool
from tests.seeds import load_seed, refund_seed


async def queue(services: Services, tenant: str, n: int, workflow: str = "ping") -> list[runs.Run]:
    queued = []
    for i in range(n):
        thread = await threads.create(services.pool, tenant=tenant, created_by="test")
        payload = {"input": {"ticket_id": "T-AUTO"} if workflow == "refund" else {"n": i}}
        queued.append(
            await runs.submit(
                services.pool,
                thread_id=thread.thread_id,
                tenant=tenant,
                user="test",
                workflow=workflow,
                payload=payload,
            )
        )
    return queued


async def test_one_process_holds_many_runs_in_flight(fresh_services):
    tenant = "capacity"
    await load_seed(fresh_services, refund_seed(tenant))
    await load_seed(
        fresh_services,
        {"tenant": tenant, "faults": [{"tool": "get_ticket", "mode": "delay", "times": 24, "delay_ms": 1500}]},
    )
    queued = await queue(fresh_services, tenant, 24, "refund")
    pool = WorkerPool(fresh_services, concurrency=16)
    await pool.start()
    try:
        peak = 0
        while peak < 16:  # every run waits 1.5 s on its first tool call: the pool fills up, then stays full
            peak = max(peak, pool.in_flight)
            await asyncio.sleep(0.02)
        assert pool.in_flight <= 16  # never more than its limit: the other 8 stay queued in Postgres
        async with fresh_services.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) AS n FROM steward.runs WHERE status = 'pending'")
            assert (await cur.fetchone())["n"] == 8
        ended = [await asyncio.wait_for(_ended(fresh_services, run), 60) for run in queued]
    finally:
        await pool.stop()
    assert {run.status for run in ended} == {"success"}


async def _ended(services: Services, run: runs.Run) -> runs.Run:
    while (run := await runs.get(services.pool, run.thread_id, run.run_id, run.tenant)).status not in runs.TERMINAL:
        await asyncio.sleep(0.05)
    return run


async def test_a_flooding_tenant_does_not_starve_another(fresh_services):
    flood = await queue(fresh_services, "flooder", 30)
    other = await queue(fresh_services, "quiet", 1)
    order = [await runs.claim(fresh_services.pool, "test-worker", 30.0) for _ in range(4)]
    # the oldest run first; then the tenant with fewer runs executing, although 29 older runs wait
    assert [run.tenant for run in order] == ["flooder", "quiet", "flooder", "flooder"]
    assert order[0].run_id == flood[0].run_id and order[1].run_id == other[0].run_id
    assert order[2].run_id == flood[1].run_id  # within a tenant, creation order


def test_a_server_process_collects_cycles_rarely(server_url, settings):
    """The app's start-up tunes the cycle collector (most of a loaded server's collecting time was spent on
    objects alive for the whole process): what it had set up is frozen out, the youngest generation waits longer."""
    import gc
    import uuid

    import httpx

    from server.app import create_app
    from steward import db
    from steward.serving import GC_THRESHOLDS, serve_in_thread

    name = f"steward_gc_{uuid.uuid4().hex[:8]}"
    db.create_database(server_url, name, exist_ok=False)
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's defaults (an app started earlier in this process tuned them)
    gc.unfreeze()
    app = create_app(settings.model_copy(update={"database_url": db.with_database(server_url, name), "workers": 0}))
    server, base = serve_in_thread(app)
    try:
        assert httpx.get(f"{base}/ok").status_code == 200
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 10_000  # modules, graphs, pools
    finally:
        server.should_exit = True
        gc.unfreeze()
        gc.set_threshold(*before)
        time.sleep(0.5)
        db.drop_database(server_url, name)


async def test_a_run_given_up_on_wakes_whoever_joined_it_at_once(fresh_services):
    """A run whose worker died MAX_ATTEMPTS times is failed by the lease sweep, and that is notified like any run's
    end: its joiner wakes at once, not at its safety re-check ten seconds later."""
    notifier = Notifier(fresh_services.database_url)
    await notifier.start()
    try:
        [queued] = await queue(fresh_services, "gives-up", 1)
        running = await runs.claim(fresh_services.pool, "a-worker-that-dies", 0.2, queued.run_id)
        assert running is not None and running.status == "running"
        async with fresh_services.pool.connection() as conn:
            await conn.execute(
                "UPDATE steward.runs SET attempt = %s WHERE run_id = %s", (runs.MAX_ATTEMPTS, queued.run_id)
            )
        joined = asyncio.create_task(executor.wait_until_done(fresh_services, running, notifier))
        await asyncio.sleep(0.5)  # the joiner has read the run, still running, and waits; the lease has lapsed
        assert not joined.done()
        assert await runs.requeue_expired(fresh_services.pool) == [queued.run_id]
        ended = await asyncio.wait_for(joined, SAFETY_RECHECK_S / 2)
    finally:
        await notifier.stop()
    assert ended.status == "error" and ended.error is not None and "gave up" in ended.error
