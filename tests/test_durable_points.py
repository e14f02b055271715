"""Which steps of a run are durable (steward/checkpoint.py): what Postgres holds of a refund while it runs."""

from __future__ import annotations

import asyncio

from steward import audit, operations, threads
from tests.seeds import load_seed, refunds


async def stored(services, tenant: str, thread_id: str) -> tuple[int, list[tuple[str, str, str | None]]]:
    """The thread's stored checkpoints (how many) and audit events (step, type, tool)."""
    async with services.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM checkpoints WHERE thread_id = %s",
            (threads.checkpoint_thread(tenant, thread_id),),
        )
        count = (await cur.fetchone())["n"]
    events = await audit.events_for(services.pool, thread_id, tenant)
    return count, [(e["step"], e["type"], e["tool"]) for e in events]


async def until(condition, what: str) -> None:
    for _ in range(200):
        if await condition():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_refund_is_durable_before_and_after_its_write_and_held_between(services, seeded):
    slow = [
        {"tool": "lookup_invoice", "mode": "delay", "times": 1, "delay_ms": 800},  # a read, between durable points
        {"tool": "create_refund", "mode": "delay_after", "times": 1, "delay_ms": 800},  # written, answer late
        {"tool": "get_refund", "mode": "delay", "times": 1, "delay_ms": 800},  # the read after the write
    ]
    await load_seed(services, {"tenant": seeded, "faults": slow})
    thread_id = threads.new_thread_id()
    run = asyncio.create_task(
        operations.start_run(
            services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada", thread_id=thread_id
        )
    )

    async def reading() -> bool:  # the thread exists and is busy: intake is done and lookup_invoice waits
        found = await threads.search(services.pool, seeded, ids=[thread_id])
        return bool(found) and found[0].status == "busy"

    await until(reading, "the run to start")
    await asyncio.sleep(0.3)
    assert await stored(services, seeded, thread_id) == (0, [])  # its first steps are held, none stored

    async def written() -> bool:
        return bool(await refunds(services.pool, seeded))

    await until(written, "the refund to be written")
    count, events = await stored(services, seeded, thread_id)
    # everything before the write is stored, ending with the write's intent: the checkpoints of the input, the
    # start and the five steps up to the policy gate, and no outcome of the write yet
    assert count == 7
    assert events[-2:] == [("execute", "policy", "create_refund"), ("execute", "intent", "create_refund")]
    assert ("execute", "tool_call", "create_refund") not in events

    async def verifying() -> bool:
        return (await stored(services, seeded, thread_id))[0] > 7

    await until(verifying, "the step after the write to be stored")
    count, events = await stored(services, seeded, thread_id)
    assert count == 8 and events[-1] == ("execute", "tool_call", "create_refund")  # stored at once after it

    result = await run
    assert result.status == "completed"
    count, events = await stored(services, seeded, thread_id)
    assert count == 10 and events[-1] == ("respond", "final", None)
    assert [e for e in events if e[1] == "tool_call"] == [
        ("intake", "tool_call", "get_ticket"),
        ("lookup_invoice", "tool_call", "lookup_invoice"),
        ("execute", "tool_call", "create_refund"),
        ("verify", "tool_call", "get_refund"),
    ]
