"""The upstream saver internals steward/checkpoint.py relies on are still there, with the shapes it expects."""

from __future__ import annotations

import inspect

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.types import _DeltaSnapshot  # noqa: F401  (importable is the check)

from steward.checkpoint import PUT_CHECKPOINT, PUT_WRITES, PooledPostgresSaver


def test_the_private_internals_the_pooled_saver_uses_exist_with_their_signatures():
    assert list(inspect.signature(AsyncPostgresSaver._dump_blobs).parameters) == [
        "self",
        "thread_id",
        "checkpoint_ns",
        "values",
        "versions",
    ]
    assert list(inspect.signature(AsyncPostgresSaver._dump_writes).parameters)[:6] == [
        "self",
        "thread_id",
        "checkpoint_ns",
        "checkpoint_id",
        "task_id",
        "task_path",
    ]
    assert "pipeline" in inspect.signature(AsyncPostgresSaver._cursor).parameters
    assert PooledPostgresSaver._cursor is not AsyncPostgresSaver._cursor  # ours: no lock around the pool


async def test_the_tables_it_writes_have_the_columns_it_uses(services):
    async def columns(table: str) -> set[str]:
        async with services.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,)
            )
            return {row["column_name"] for row in await cur.fetchall()}

    assert {"thread_id", "checkpoint_ns", "channel", "version", "type", "blob"} <= await columns("checkpoint_blobs")
    assert {"checkpoint_id", "parent_checkpoint_id", "checkpoint", "metadata"} <= await columns("checkpoints")
    assert {"task_id", "task_path", "idx", "channel", "type", "blob"} <= await columns("checkpoint_writes")
    assert "checkpoint_blobs" in PUT_CHECKPOINT and "checkpoint_writes" in PUT_WRITES
