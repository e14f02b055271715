"""One run at a time per thread, queued runs in order, exactly-once approval, and surviving a killed worker."""

from __future__ import annotations

import asyncio
import os
import signal
from decimal import Decimal

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import ConflictError

from steward import db, keys, runs
from steward.services import Services
from tests.processes import Process, start_server
from tests.seeds import load_seed, refund_seed, refunds

APPROVE = {"decisions": [{"type": "approve"}]}


async def slow(services, tenant: str, tool: str, ms: int, mode: str = "delay") -> None:
    seed = {"tenant": tenant, "faults": [{"tool": tool, "mode": mode, "times": 1, "delay_ms": ms}]}
    await load_seed(services, seed)


async def test_second_run_on_a_busy_thread_is_409_and_a_blind_approval_is_refused(sdk, seeded, services):
    await slow(services, seeded, "get_ticket", 1200)
    runner, approver = sdk("runner"), sdk("approver")
    thread = await runner.threads.create()
    first = await runner.runs.create(thread["thread_id"], "refund", input={"ticket_id": "T-BIG"})
    assert (await runner.threads.get(thread["thread_id"]))["status"] == "busy"

    with pytest.raises(httpx.HTTPStatusError, match="409") as busy:
        await runner.runs.wait(thread["thread_id"], "refund", input={"ticket_id": "T-BIG"})
    assert "is busy with run" in busy.value.response.text
    with pytest.raises(ConflictError, match="busy"):  # runs.create raises the SDK's typed errors
        await approver.runs.create(thread["thread_id"], "refund", command={"resume": APPROVE})
    # a decision on a request nobody has seen yet is refused at once, queued or not: no blind pre-approval
    with pytest.raises(httpx.HTTPStatusError, match="409") as blind:
        await approver.runs.wait(
            thread["thread_id"], "refund", command={"resume": APPROVE}, multitask_strategy="enqueue"
        )
    assert "not waiting for an approval" in blind.value.response.text
    paused = await runner.runs.join(thread["thread_id"], first["run_id"])
    assert paused["__interrupt__"][0]["value"]["rule_id"] == "refund.needs_approval"
    done = await approver.runs.wait(thread["thread_id"], "refund", command={"resume": APPROVE})

    assert done["outcome"]["status"] == "completed"
    assert (await runner.runs.get(thread["thread_id"], first["run_id"]))["status"] == "success"
    assert [r["amount_usd"] for r in await refunds(services.pool, seeded)] == [Decimal("120.00")]


async def test_a_thread_handles_one_case(sdk, seeded):
    client = sdk()
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "refund", input={"ticket_id": "T-AUTO"})
    with pytest.raises(httpx.HTTPStatusError, match="409") as again:
        await client.runs.wait(thread["thread_id"], "refund", input={"ticket_id": "T-FULL"})
    assert "one case per thread" in again.value.response.text


async def test_two_approvers_clicking_at_once_execute_once(sdk, seeded, services):
    runner = sdk("runner")
    thread = await runner.threads.create()
    await runner.runs.wait(thread["thread_id"], "refund", input={"ticket_id": "T-BIG"})
    await slow(services, seeded, "create_refund", 500)  # keep the winner busy while the loser arrives

    outcomes = await asyncio.gather(
        *(
            sdk(role).runs.wait(thread["thread_id"], "refund", command={"resume": APPROVE})
            for role in ("approver", "approver2")
        ),
        return_exceptions=True,
    )

    assert sorted(type(o).__name__ for o in outcomes) == ["HTTPStatusError", "dict"]
    loser = next(o for o in outcomes if not isinstance(o, dict))
    assert loser.response.status_code == 409 and "busy" in loser.response.text
    winner = next(o for o in outcomes if isinstance(o, dict))
    assert winner["outcome"]["status"] == "completed"
    assert len(await refunds(services.pool, seeded)) == 1


@pytest.fixture
async def isolated(server_url: str, tmp_path, cli_env_session):
    """A database of its own with a server that has no in-process workers: background runs go to the
    `steward worker` processes this test starts (and kills)."""
    name = "steward_kill_" + os.urandom(4).hex()
    db.create_database(server_url, name, exist_ok=False)
    url = db.with_database(server_url, name)
    env = {**cli_env_session, "STEWARD_DATABASE_URL": url, "STEWARD_RUN_LEASE_S": "2"}
    process, base = start_server(env, tmp_path / "server.log", STEWARD_WORKERS="0")
    try:
        assert "admin of tenant 'default'" in (tmp_path / "server.log").read_text()  # a fresh database
        yield env, base, url
    finally:
        process.stop()
        db.drop_database(server_url, name)


async def test_a_worker_killed_mid_run_is_replaced_and_the_write_happens_once(isolated, tmp_path, settings):
    env, base, url = isolated
    async with Services.open(settings.model_copy(update={"database_url": url}), url=url) as services:
        await load_seed(services, refund_seed("k"))
        key = await keys.create_key(services.pool, tenant="k", roles=["admin"])
        # the refund commits, then the billing answer is slow: the crash window between write and checkpoint
        await slow(services, "k", "create_refund", 30_000, mode="delay_after")
        workers = [Process(["worker", "--concurrency", "1"], env, tmp_path / f"worker{i}.log") for i in (1, 2)]
        try:
            async with get_client(url=base, api_key=key) as client:
                thread = await client.threads.create()
                run = await client.runs.create(thread["thread_id"], "refund", input={"ticket_id": "T-AUTO"})
                for _ in range(300):  # until the refund row exists while the run is still running
                    if await refunds(services.pool, "k"):
                        break
                    await asyncio.sleep(0.05)
                record = await runs.get(services.pool, thread["thread_id"], run["run_id"], "k")
                assert record.status == "running" and len(await refunds(services.pool, "k")) == 1
                victim = int(record.worker.split(":")[1])
                os.kill(victim, signal.SIGKILL)

                final = await asyncio.wait_for(client.runs.join(thread["thread_id"], run["run_id"]), 60)
                record = await runs.get(services.pool, thread["thread_id"], run["run_id"], "k")
        finally:
            for worker in workers:
                worker.stop()
        assert final["outcome"]["status"] == "completed"
        assert record.status == "success" and record.attempt == 2
        assert len(await refunds(services.pool, "k")) == 1
        async with httpx.AsyncClient(base_url=base, headers={"x-api-key": key}) as http:
            events = (await http.get(f"/threads/{thread['thread_id']}/audit")).json()
        writes = [
            (e["type"], e["status"])
            for e in events
            if e["type"] in ("intent", "tool_call") and e["tool"] == "create_refund"
        ]
        # the killed attempt's write is in the trail (its intent, committed before it ran); the retry replayed it
        assert writes == [("intent", "executing"), ("intent", "executing"), ("tool_call", "deduplicated")]


async def test_cancel_a_queued_run_and_a_running_one(sdk, seeded, services):
    await slow(services, seeded, "get_ticket", 1500)
    runner = sdk("runner")
    thread = await runner.threads.create()
    running = await runner.runs.create(thread["thread_id"], "refund", input={"ticket_id": "T-BIG"})
    queued = await runner.runs.create(
        thread["thread_id"], "refund", input={"ticket_id": "T-BIG"}, multitask_strategy="enqueue"
    )

    cancelled = await runner.runs.cancel(thread["thread_id"], queued["run_id"])
    assert cancelled["status"] == "interrupted" and cancelled["error"] == "cancelled before it started"
    stopped = await runner.runs.cancel(thread["thread_id"], running["run_id"], wait=True)
    assert stopped["status"] == "interrupted" and stopped["error"] == "cancelled"
    assert (await runner.threads.get(thread["thread_id"]))["status"] == "idle"
    assert await refunds(services.pool, seeded) == []
    with pytest.raises(ConflictError, match="already ended"):
        await runner.runs.cancel(thread["thread_id"], running["run_id"])


async def test_a_refused_queued_run_leaves_the_pending_approval_alone(sdk, seeded, services, server, api_keys):
    await slow(services, seeded, "get_ticket", 800)
    runner, approver = sdk("runner"), sdk("approver")
    thread = await runner.threads.create()
    await runner.runs.create(thread["thread_id"], "refund", input={"ticket_id": "T-BIG"})
    duplicate = await runner.runs.create(
        thread["thread_id"], "refund", input={"ticket_id": "T-BIG"}, multitask_strategy="enqueue"
    )
    await runner.runs.join(thread["thread_id"], duplicate["run_id"])

    refused = await runner.runs.get(thread["thread_id"], duplicate["run_id"])
    assert refused["status"] == "error" and "one case per thread" in refused["error"]
    waiting = await runner.threads.get(thread["thread_id"])
    assert waiting["status"] == "interrupted" and waiting["error"] is None
    assert list(waiting["interrupts"].values())[0][0]["value"]["rule_id"] == "refund.needs_approval"
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["approver"]}) as http:
        assert thread["thread_id"] in [a["thread_id"] for a in (await http.get("/approvals")).json()]
    done = await approver.runs.wait(thread["thread_id"], "refund", command={"resume": APPROVE})
    assert done["outcome"]["status"] == "completed"
    with pytest.raises(httpx.HTTPStatusError, match="409"):  # a late duplicate approval, queued or not
        await approver.runs.wait(
            thread["thread_id"], "refund", command={"resume": APPROVE}, multitask_strategy="enqueue"
        )
    assert (await runner.threads.get(thread["thread_id"]))["status"] == "idle"
    assert [r["amount_usd"] for r in await refunds(services.pool, seeded)] == [Decimal("120.00")]
