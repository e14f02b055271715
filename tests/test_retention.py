"""Bounded storage: thread TTLs (per thread and per workflow), keeping only the latest checkpoint of finished
threads, and steward prune; never a thread in flight or waiting for people; the audit trail under a retention
of its own."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import httpx
import psycopg
import pytest

from graphs import WORKFLOWS
from steward import audit, db, operations, retention
from steward.checkpoint import plain_json
from steward.services import Services
from steward.threads import checkpoint_config, checkpoint_thread
from steward.workflow import Catalog
from tests.seeds import load_seed, refund_seed


async def rows(services, table: str, tenant: str, thread_id: str) -> int:
    """A thread's rows in a steward table (by tenant and id) or a checkpoint table (by its checkpoint key)."""
    if table.startswith("steward."):
        where, params = "tenant = %s AND thread_id = %s", (tenant, thread_id)
    else:
        where, params = "thread_id = %s", (checkpoint_thread(tenant, thread_id),)
    async with services.pool.connection() as conn:
        cur = await conn.execute(f"SELECT count(*) AS n FROM {table} WHERE {where}", params)
        return (await cur.fetchone())["n"]


async def test_a_finished_thread_keeps_its_latest_checkpoint_and_still_reads(services, seeded):
    done = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")
    paused = await operations.start_run(services, "refund", {"ticket_id": "T-BIG"}, tenant=seeded, user="ada")
    before = await rows(services, "checkpoints", seeded, done.thread_id)
    assert before > 5
    final = await services.graph("refund").aget_state(checkpoint_config(seeded, done.thread_id))

    dry = await retention.keep_latest_checkpoints(services.checkpointer, timedelta(0), tenant=seeded, dry_run=True)
    assert (
        dry.checkpoints_deleted == before - 1 and await rows(services, "checkpoints", seeded, done.thread_id) == before
    )
    pruned = await retention.keep_latest_checkpoints(services.checkpointer, timedelta(0), tenant=seeded)
    assert pruned.checkpoints_deleted == before - 1 and pruned.blobs_deleted > 0
    assert await rows(services, "checkpoints", seeded, done.thread_id) == 1
    # the case is handled: its plain JSON values moved into the checkpoint's row; only those with exact money
    # (Decimal, which JSON would turn into strings or floats) stay blobs; the state reads exactly the same
    async with services.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT type, blob FROM checkpoint_blobs WHERE thread_id = %s",
            (checkpoint_thread(seeded, done.thread_id),),
        )
        left = [services.checkpointer.serde.loads_typed((row["type"], row["blob"])) for row in await cur.fetchall()]
    assert 0 < len(left) < 9 and not any(plain_json(value) for value in left)
    state = await services.graph("refund").aget_state(checkpoint_config(seeded, done.thread_id))
    assert state.values == final.values and state.config == final.config
    assert state.values["outcome"]["status"] == "completed" and state.values["refund"]["amount_usd"] == Decimal("38.50")
    assert await rows(services, "checkpoints", seeded, paused.thread_id) > 1  # waiting for people: untouched
    assert (
        await retention.keep_latest_checkpoints(services.checkpointer, timedelta(0), tenant=seeded)
        == retention.Pruned()
    )
    assert len(await audit.events_for(services.pool, done.thread_id, seeded)) > 5  # the durable record stays

    # a put outside a run on top of it (aupdate_state) keeps every value (it cannot refer to the moved blobs), and
    # so does the next retention pass, which leaves only that checkpoint
    edited = await services.graph("refund").aupdate_state(
        checkpoint_config(seeded, done.thread_id), {"response": "edited"}, as_node="respond"
    )
    assert (await services.graph("refund").aget_state(edited)).values == {**final.values, "response": "edited"}
    await retention.keep_latest_checkpoints(services.checkpointer, timedelta(0), tenant=seeded)
    state = await services.graph("refund").aget_state(checkpoint_config(seeded, done.thread_id))
    assert state.values == {**final.values, "response": "edited"}
    assert await rows(services, "checkpoints", seeded, done.thread_id) == 1


async def test_threads_expire_by_their_ttl_or_their_workflows_only_once_finished(server, api_keys, services, seeded):
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["runner"]}) as runner:
        assert (await runner.post("/threads", json={"ttl": -1})).status_code == 422
        assert (await runner.post("/threads", json={"ttl": {"ttl": 5, "strategy": "archive"}})).status_code == 422
        made = (await runner.post("/threads", json={"ttl": {"ttl": 0.001, "strategy": "delete"}})).json()
        assert made["expires_at"] is not None
        short = made["thread_id"]
        await runner.post(
            f"/threads/{short}/runs/wait", json={"assistant_id": "refund", "input": {"ticket_id": "T-AUTO"}}
        )
        waiting = (await runner.post("/threads", json={"ttl": 0.001})).json()["thread_id"]
        await runner.post(
            f"/threads/{waiting}/runs/wait", json={"assistant_id": "refund", "input": {"ticket_id": "T-BIG"}}
        )
        kept = (await runner.post("/threads", json={})).json()["thread_id"]
        await runner.post(
            f"/threads/{kept}/runs/wait", json={"assistant_id": "refund", "input": {"ticket_id": "T-NOINV"}}
        )
        await asyncio.sleep(0.1)

        # the served instance's sweeper may delete it first (it runs the same batches every few seconds)
        gone = await retention.delete_expired(services.pool, services.catalog, tenant=seeded)
        assert gone.threads_deleted <= 1
        assert (await runner.get(f"/threads/{short}")).status_code == 404
        assert (
            await rows(services, "checkpoints", seeded, short) == 0
            and await rows(services, "steward.runs", seeded, short) == 0
        )
        assert (await runner.get(f"/threads/{waiting}")).json()["status"] == "interrupted"  # never a waiting case
        assert (await runner.get(f"/threads/{kept}")).status_code == 200  # no ttl, and refund declares none
        assert len(await audit.events_for(services.pool, short, seeded)) > 0

        updated = await runner.patch(f"/threads/{kept}", json={"ttl": 0.001})
        assert updated.status_code == 200 and updated.json()["expires_at"] is not None
        await asyncio.sleep(0.1)
        await retention.delete_expired(services.pool, services.catalog, tenant=seeded)
        assert (await runner.get(f"/threads/{kept}")).status_code == 404

    ping_now = Catalog({**WORKFLOWS, "ping": replace(WORKFLOWS["ping"], thread_ttl=timedelta(0))})
    probe = await operations.start_run(services, "ping", {"n": 3}, tenant=seeded, user="ada")
    assert (await retention.delete_expired(services.pool, ping_now, tenant=seeded)).threads_deleted == 1
    assert await rows(services, "steward.threads", seeded, probe.thread_id) == 0


def test_steward_prune_counts_then_deletes(cli, capsys, seeded):
    assert cli(["run", "refund", "--input", '{"ticket_id": "T-AUTO"}', "--tenant", seeded, "--local", "ops"]) == 0
    capsys.readouterr()
    assert cli(["prune", "--older-than", "0m", "--tenant", seeded, "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] and dry["checkpoints_deleted"] > 0
    assert cli(["prune", "--older-than", "0m", "--tenant", seeded]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoints_deleted"] == dry["checkpoints_deleted"]
    assert cli(["prune", "--older-than", "30d", "--tenant", seeded]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoints_deleted"] == 0
    assert cli(["prune", "--older-than", "a while"]) == 2


async def test_the_audit_trail_keeps_its_own_retention_which_the_service_role_cannot_change(server_url, settings):
    name = f"steward_audit_{uuid.uuid4().hex[:8]}"
    db.create_database(server_url, name, exist_ok=False)
    try:
        url = db.with_database(server_url, name)
        tenant = "aging"
        configured = settings.model_copy(update={"database_url": url, "audit_retention_days": 30})
        async with Services.open(configured) as services:
            await load_seed(services, refund_seed(tenant))
            done = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=tenant, user="ada")
            waiting = await operations.start_run(services, "refund", {"ticket_id": "T-BIG"}, tenant=tenant, user="ada")
            async with services.pool.connection() as conn:  # both cases' trails, as if written 31 days ago
                await conn.execute(
                    "INSERT INTO steward.audit_events (ts, run_id, thread_id, tenant, user_id, workflow, step, type,"
                    " status) SELECT now() - interval '31 days', run_id, thread_id, tenant, user_id, workflow, step,"
                    " type, status FROM steward.audit_events WHERE tenant = %s",
                    (tenant,),
                )
            recent = {
                t: len(await audit.events_for(services.pool, t, tenant)) for t in (done.thread_id, waiting.thread_id)
            }

            due = await retention.prune_audit(services.pool, tenant=tenant, dry_run=True)
            assert due.audit_events_deleted == recent[done.thread_id] // 2
            assert (
                await retention.prune(services.checkpointer, services.catalog, timedelta(days=365), tenant=tenant)
                == due
            )
            # the finished case lost only its old events; the case waiting for people kept all of its own
            assert len(await audit.events_for(services.pool, done.thread_id, tenant)) == recent[done.thread_id] // 2
            assert len(await audit.events_for(services.pool, waiting.thread_id, tenant)) == recent[waiting.thread_id]

            async with services.pool.connection() as conn:  # as the service role: no way around the setting
                for statement in (
                    "UPDATE steward.audit_retention SET days = 1",
                    "DELETE FROM steward.audit_events WHERE tenant = 'aging'",
                ):
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        await conn.execute(statement)
        async with Services.open(settings.model_copy(update={"database_url": url})) as services:  # unset: kept
            assert await retention.prune_audit(services.pool, dry_run=True) == retention.Pruned()
    finally:
        db.drop_database(server_url, name)
