"""Migrations of a database made by an earlier Steward: what was stored keeps working."""

from __future__ import annotations

import uuid

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from graphs import WORKFLOWS
from steward import db
from steward.migrations import MIGRATIONS

PER_TENANT_IDS = 16
"""The migration that made thread ids per tenant (its index + 1)."""


async def test_checkpoints_from_before_per_tenant_thread_ids_move_under_their_keys(server_url):
    name = f"steward_mig_{uuid.uuid4().hex[:8]}"
    db.create_database(server_url, name, exist_ok=False)
    url = db.with_database(server_url, name)
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute("CREATE SCHEMA steward")
            for statement in MIGRATIONS[: PER_TENANT_IDS - 1]:
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO steward.threads (thread_id, tenant, workflow, created_by)"
                " VALUES ('t-1', 'acme', 'ping', 'a')"
            )
        async with AsyncPostgresSaver.from_conn_string(url) as saver:
            await saver.setup()
            graph = WORKFLOWS["ping"].make_graph().compile(checkpointer=saver)
            for thread in ("t-1", "not-steward-s"):  # the second: a thread Steward does not know (langgraph dev)
                await graph.ainvoke({"n": 3}, {"configurable": {"thread_id": thread}})
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(MIGRATIONS[PER_TENANT_IDS - 1])
            counts = {}
            for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
                cur = await conn.execute(f"SELECT thread_id, count(*) FROM {table} GROUP BY thread_id")
                counts[table] = dict(await cur.fetchall())
        for table, by_thread in counts.items():
            assert set(by_thread) == {"acme/t-1", "not-steward-s"}, table
        async with AsyncPostgresSaver.from_conn_string(url) as saver:
            graph = WORKFLOWS["ping"].make_graph().compile(checkpointer=saver)
            state = await graph.aget_state({"configurable": {"thread_id": "acme/t-1"}})
        assert state.values["reply"] == "3 is odd"
    finally:
        db.drop_database(server_url, name)
