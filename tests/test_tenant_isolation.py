"""Tenant isolation on every endpoint that takes a thread, checkpoint or config from a body."""

from __future__ import annotations

import httpx

from steward import keys


async def test_history_never_reads_another_tenants_thread_whatever_the_body_says(sdk, server, services, seeded):
    victim = sdk("runner")
    secret = await victim.threads.create()
    await victim.runs.wait(secret["thread_id"], "refund", input={"ticket_id": "T-BIG"})
    attacker_key = await keys.create_key(services.pool, tenant=f"{seeded}-attacker", roles=["admin"])
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": attacker_key}) as attacker:
        own = (await attacker.post("/threads", json={})).json()["thread_id"]
        await attacker.post(f"/threads/{own}/runs/wait", json={"assistant_id": "ping", "input": {"n": 2}})
        for body in (
            {"checkpoint": {"thread_id": secret["thread_id"]}},
            {"checkpoint": {"configurable": {"thread_id": secret["thread_id"]}}},
            {"before": {"configurable": {"thread_id": secret["thread_id"]}}},
        ):
            response = await attacker.post(f"/threads/{own}/history", json=body)
            assert response.status_code == 200, response.text
            assert "T-BIG" not in response.text and "ticket" not in response.text
            assert {h["checkpoint"]["thread_id"] for h in response.json()} <= {own}


async def test_history_selects_a_checkpoint_within_the_thread(sdk):
    client = sdk()
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "ping", input={"n": 4})
    history = await client.threads.get_history(thread["thread_id"], limit=10)
    middle = history[2]["checkpoint"]
    older = await client.threads.get_history(thread["thread_id"], checkpoint={"checkpoint_id": middle["checkpoint_id"]})
    assert older[0]["checkpoint"]["checkpoint_id"] == middle["checkpoint_id"]
    before = await client.threads.get_history(thread["thread_id"], before={"configurable": middle})
    assert before[0]["checkpoint"]["checkpoint_id"] == history[3]["checkpoint"]["checkpoint_id"]


async def test_deleting_a_thread_removes_its_checkpoints_with_it(sdk, services):
    client = sdk()
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "ping", input={"n": 1})
    await client.threads.delete(thread["thread_id"])
    async with services.pool.connection() as conn:
        for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
            cur = await conn.execute(f"SELECT count(*) AS n FROM {table} WHERE thread_id = %s", (thread["thread_id"],))
            assert (await cur.fetchone())["n"] == 0, table
    again = await client.threads.create(thread_id=thread["thread_id"])
    assert (await client.threads.get_state(again["thread_id"]))["values"] == {}
