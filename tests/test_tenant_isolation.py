"""Tenant isolation on every endpoint that takes a thread, checkpoint or config from a body."""

from __future__ import annotations

import httpx

from steward import keys
from steward.threads import checkpoint_thread


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


async def test_deleting_a_thread_removes_its_checkpoints_with_it(sdk, services, tenant):
    client = sdk()
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "ping", input={"n": 1})
    key = checkpoint_thread(tenant, thread["thread_id"])

    async def counts() -> list[int]:
        found = []
        async with services.pool.connection() as conn:
            for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
                cur = await conn.execute(f"SELECT count(*) AS n FROM {table} WHERE thread_id = %s", (key,))
                found.append((await cur.fetchone())["n"])
        return found

    assert all(n > 0 for n in await counts())
    await client.threads.delete(thread["thread_id"])
    assert await counts() == [0, 0, 0]
    again = await client.threads.create(thread_id=thread["thread_id"])
    assert (await client.threads.get_state(again["thread_id"]))["values"] == {}


async def test_thread_ids_are_per_tenant_so_nobody_learns_of_anothers(sdk, server, services, seeded):
    """The same id in two tenants is two threads: creating it answers the same whether or not another tenant has
    it (no existence oracle, no squatting), and each runs its own case on it."""
    mine = sdk("runner")
    shared = "ticket-T-BIG"
    first = await mine.threads.create(thread_id=shared, metadata={"owner": "first"})
    paused = await mine.runs.wait(shared, "refund", input={"ticket_id": "T-BIG"})
    assert paused["__interrupt__"]

    other_key = await keys.create_key(services.pool, tenant=f"{seeded}-other", roles=["admin"])
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": other_key}) as other:
        created = await other.post("/threads", json={"thread_id": shared, "metadata": {"owner": "second"}})
        assert created.status_code == 200 and created.json()["metadata"]["owner"] == "second"
        never_used = await other.post("/threads", json={"thread_id": "ticket-nobody-has"})
        assert never_used.status_code == created.status_code  # the same answer, taken elsewhere or not
        again = await other.post("/threads", json={"thread_id": shared})
        assert again.status_code == 409  # its own thread: ids are unique within a tenant
        theirs = (await other.get(f"/threads/{shared}")).json()
        assert theirs["status"] == "idle" and theirs["values"] == {} and theirs["interrupts"] == {}
        assert (await other.get(f"/threads/{shared}/state")).json()["values"] == {}
        assert (await other.post(f"/threads/{shared}/history", json={})).json() == []
        assert (await other.get(f"/threads/{shared}/runs")).json() == []
        assert (await other.get(f"/threads/{shared}/audit")).json() == []
        ran = await other.post(f"/threads/{shared}/runs/wait", json={"assistant_id": "ping", "input": {"n": 2}})
        assert ran.status_code == 200 and ran.json()["parity"] == "even"
        assert (await other.delete(f"/threads/{shared}")).status_code == 204

    mine_now = await mine.threads.get(shared)
    assert mine_now["metadata"]["owner"] == "first" and mine_now["status"] == "interrupted"
    assert first["thread_id"] == shared and len(await mine.threads.get_history(shared)) > 1
    approver = sdk("approver")
    done = await approver.runs.wait(shared, "refund", command={"resume": {"decisions": [{"type": "approve"}]}})
    assert done["outcome"]["status"] == "completed"
