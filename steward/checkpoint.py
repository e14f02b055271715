"""The Postgres checkpointer Steward compiles graphs with: langgraph-checkpoint-postgres, faster on writes.

``AsyncPostgresSaver`` (a) takes one asyncio lock around every query, even when given a pool, so all runs of a
process queue behind each other (langgraph issue 7259), and (b) writes through pipeline mode with
``executemany`` after serialising in a worker thread. Measured here: 1.1 ms per ``aput`` and 1.7 ms per
``aput_writes`` for a 4-node graph's tiny states. This subclass keeps the library's schema, serialisation
helpers (``_dump_blobs``, ``_dump_writes``), migrations and every read path, and changes only how the two write
calls reach Postgres: a pooled connection per call (no lock), serialisation inline, and one multi-row statement
per call (one round trip, one commit). The audit events a run's steps recorded and the tasks' pending writes go in
the same statement as the checkpoint that follows them (:data:`steward.audit.PENDING`, :data:`PENDING_WRITES`):
checkpoints are written one after another (with ``durability="sync"`` each before the next step starts), so the
audit trail keeps the steps' order, and a step is durable, with its events, when its checkpoint is. The writes
left when a run stops (an interrupt's, an error's) are stored by :meth:`PooledPostgresSaver.flush_writes` before
the run's end is recorded. A crash between a step and its checkpoint loses that step's writes and events
together, and the retry runs the step again (its writes are idempotent: :mod:`steward.tool_calls`).

It relies on the upstream saver's private internals: ``AsyncPostgresSaver._cursor`` (overridden),
``_dump_blobs`` and ``_dump_writes`` (their row shapes), ``_DeltaSnapshot`` and the SQL tables' columns. So
``pyproject.toml`` pins langgraph-checkpoint and langgraph-checkpoint-postgres to the minor versions this was
checked against, and ``tests/test_checkpoint_internals.py`` fails loudly when an upgrade changes them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from psycopg import AsyncCursor
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from steward import audit
from steward.pool import Pool, trusted

PUT_CHECKPOINT = """
WITH {ctes}blobs AS (
    INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::bytea[])
    ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING)
INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id)
DO UPDATE SET checkpoint = EXCLUDED.checkpoint, metadata = EXCLUDED.metadata
"""
PUT_WRITES = """
INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::int[], %s::text[],
                     %s::text[], %s::bytea[])
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO {action}
"""
OVERWRITE = "UPDATE SET channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob"
WRITE_COLUMNS = 9

WriteRow = tuple[str, str, str, str, str, int, str, str, bytes]
PENDING_WRITES: ContextVar[list[tuple[bool, WriteRow]] | None] = ContextVar("steward_pending_writes", default=None)
"""A run's task writes not yet stored, each with whether it overwrites (LangGraph's special channels do). The
executor sets a list per run; unset (e.g. ``langgraph dev``), writes are stored at once."""


def _write_inserts(pending: list[tuple[bool, WriteRow]]) -> list[tuple[str, list[Any]]]:
    """INSERTs storing ``pending`` writes, one per conflict action that has rows, each with its parameters."""
    inserts = []
    for overwrite in (True, False):
        rows = [row for flag, row in pending if flag is overwrite]
        if rows:
            query = PUT_WRITES.format(action=OVERWRITE if overwrite else "NOTHING").strip()
            inserts.append((query, _columns(rows, WRITE_COLUMNS)))
    return inserts


def _columns(rows: list[tuple], width: int) -> list[list[Any]]:
    """Rows as one list per column (for ``unnest``)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


class PooledPostgresSaver(AsyncPostgresSaver):
    """``AsyncPostgresSaver`` on a pool: no process-wide lock, one round trip per write call."""

    conn: Pool

    def __init__(self, pool: Pool, **kwargs: Any) -> None:
        if not isinstance(pool, AsyncConnectionPool):
            raise TypeError("PooledPostgresSaver needs an AsyncConnectionPool")
        super().__init__(pool, **kwargs)

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncGenerator[AsyncCursor[DictRow]]:
        async with self.conn.connection() as conn:
            if pipeline:
                async with conn.pipeline(), conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur
            else:
                async with conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint: primitive channel values inline, the others as versioned blobs."""
        conf = config["configurable"]
        thread_id, namespace = conf["thread_id"], conf.get("checkpoint_ns", "")
        inline = dict(checkpoint["channel_values"])
        blobs: dict[str, Any] = {}
        for channel, value in checkpoint["channel_values"].items():
            if isinstance(value, _DeltaSnapshot):
                blobs[channel], inline[channel] = value, True  # the blob holds it; True marks it inline
            elif not (value is None or isinstance(value, (str, int, float, bool))):
                blobs[channel] = inline.pop(channel)
        versions = {channel: v for channel, v in new_versions.items() if channel in blobs}
        rows = self._dump_blobs(thread_id, namespace, blobs, versions)
        pending, events = audit.PENDING.get(), []
        if pending:  # the steps' audit events since the last checkpoint go in with this one
            events = list(pending)
            pending.clear()
        inserts = _write_inserts(_taken(PENDING_WRITES.get()))  # and the tasks' writes
        if events:
            inserts.insert(0, (audit.INSERT, audit.columns(events)))
        ctes = "".join(f"w{i} AS ({query}),\n" for i, (query, _) in enumerate(inserts))
        params: list[Any] = [param for _, some in inserts for param in some]
        params += [
            *_columns(rows, 6),
            thread_id,
            namespace,
            checkpoint["id"],
            conf.get("checkpoint_id"),
            Jsonb({**checkpoint, "channel_values": inline}),
            Jsonb(get_serializable_checkpoint_metadata(config, metadata)),
        ]
        async with self.conn.connection() as conn:
            await conn.execute(trusted(PUT_CHECKPOINT.format(ctes=ctes)), params)
        return {"configurable": {"thread_id": thread_id, "checkpoint_ns": namespace, "checkpoint_id": checkpoint["id"]}}

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        """Store a task's pending writes (special channels overwrite, others are written once)."""
        conf = config["configurable"]
        rows = self._dump_writes(
            conf["thread_id"], conf["checkpoint_ns"], conf["checkpoint_id"], task_id, task_path, writes
        )
        overwrite = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        pending = PENDING_WRITES.get()
        if pending is not None:  # a run of Steward's: stored with the next checkpoint, or when the run stops
            pending.extend((overwrite, row) for row in rows)
            return
        [(query, params)] = _write_inserts([(overwrite, row) for row in rows])
        async with self.conn.connection() as conn:
            await conn.execute(trusted(query), params)

    async def flush_writes(self) -> None:
        """Store the run's writes no checkpoint took along (those of the step that stopped it)."""
        inserts = _write_inserts(_taken(PENDING_WRITES.get()))
        if inserts:
            async with self.conn.connection() as conn:
                for query, params in inserts:  # usually one: the stopping step's writes share a conflict action
                    await conn.execute(trusted(query), params)


def _taken(pending: list[tuple[bool, WriteRow]] | None) -> list[tuple[bool, WriteRow]]:
    """The pending writes, removed from the run's buffer."""
    if not pending:
        return []
    taken = list(pending)
    pending.clear()
    return taken
