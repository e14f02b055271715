"""The Postgres checkpointer Steward compiles graphs with: langgraph-checkpoint-postgres, faster on writes.

``AsyncPostgresSaver`` (a) takes one asyncio lock around every query, even when given a pool, so all runs of a
process queue behind each other (langgraph issue 7259), and (b) writes through pipeline mode with
``executemany`` after serialising in a worker thread. Measured here: 1.1 ms per ``aput`` and 1.7 ms per
``aput_writes`` for a 4-node graph's tiny states. This subclass keeps the library's schema, serialisation
helpers (``_dump_blobs``, ``_dump_writes``), migrations and every read path, and changes only how the two write
calls reach Postgres: a pooled connection per call (no lock), serialisation inline, and one multi-row statement
per store (one round trip, one commit) whose rows go as one JSON array per table, serialised by orjson (psycopg
adapts the elements of array parameters one by one in Python: ~0.8 ms a refund in binary, ~4 ms as text, against
0.05 ms), serialised values in base64.

**Durable points.** Within a run of Steward's (the executor sets :data:`HELD`), a put is held in memory and
stored at the run's next durable point, everything held in one statement with the steps' audit events
(:data:`steward.audit.PENDING`):

* before a write tool runs: everything so far, with the write's ``intent`` event (:meth:`steward.step.Step`);
* the checkpoint after a step that ran a write tool, at once;
* when the run stops, however it stops: completed, paused at an interrupt (the checkpoint holding the interrupt),
  failed or cancelled, before the run's end is recorded.

So state is durable before and after every write and at every pause; the steps between two durable points
(reads, model calls, checks, policy verdicts) are not. A crash there loses their checkpoints and events
together, and the run's retry continues from the last durable checkpoint and runs them again: reads and model
calls are repeated (a model's answer may differ; a write then goes through policy again), and a write repeats
safely under its idempotency key (:mod:`steward.tool_calls`). Events keep their order: they are held in the
order the steps recorded them and stored in it. A graph driven with this saver outside Steward's executor (a
direct ``ainvoke``, ``aupdate_state``) stores every put at once, its plain JSON values inline too (see
:meth:`PooledPostgresSaver.compact`).

It relies on the upstream saver's private internals: ``AsyncPostgresSaver._cursor`` (overridden),
``_dump_blobs`` and ``_dump_writes`` (their row shapes), ``_DeltaSnapshot`` and the SQL tables' columns. So
``pyproject.toml`` pins langgraph-checkpoint and langgraph-checkpoint-postgres to the minor versions this was
checked against, and ``tests/test_checkpoint_internals.py`` fails loudly when an upgrade changes them.
"""

from __future__ import annotations

import base64
import math
import random
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
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
from steward.jsonable import json_param
from steward.pool import Conn, Pool, trusted

PUT_BLOBS = """
INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
SELECT r ->> 0, r ->> 1, r ->> 2, r ->> 3, r ->> 4, decode(r ->> 5, 'base64') FROM jsonb_array_elements(%b) AS e(r)
ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING"""
PUT_CHECKPOINTS = """
INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata)
SELECT r ->> 0, r ->> 1, r ->> 2, r ->> 3, r -> 4, r -> 5 FROM jsonb_array_elements(%b) AS e(r)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id)
DO UPDATE SET checkpoint = EXCLUDED.checkpoint, metadata = EXCLUDED.metadata"""
PUT_WRITES = """
INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
SELECT r ->> 0, r ->> 1, r ->> 2, r ->> 3, r ->> 4, (r ->> 5)::int, r ->> 6, r ->> 7, decode(r ->> 8, 'base64')
  FROM jsonb_array_elements(%b) AS e(r)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO {action}"""
OVERWRITE = "UPDATE SET channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob"

BlobRow = tuple[str, str, str, str, str, str | None]
"""thread, namespace, channel, version, type, the serialised value in base64 (None for an empty channel)."""
CheckpointRow = tuple[str, str, str, str | None, Mapping[str, Any], Mapping[str, Any]]
WriteRow = tuple[str, str, str, str, str, int, str, str, str]
"""thread, namespace, checkpoint, task, task path, index, channel, type, the serialised value in base64."""


@dataclass
class Held:
    """What a run of Steward's has put but not yet stored: checkpoints (the last put of an id wins), their blobs and
    the tasks' writes, each write with whether it overwrites (LangGraph's special channels do). The steps' audit
    events wait beside them in :data:`steward.audit.PENDING`. :meth:`PooledPostgresSaver.flush` stores them all."""

    checkpoints: dict[str, CheckpointRow] = field(default_factory=dict)
    blobs: list[BlobRow] = field(default_factory=list)
    writes: list[tuple[bool, WriteRow]] = field(default_factory=list)
    store_next: bool = False
    """Store the next checkpoint at once (the one after a step that wrote to a system of record)."""

    def take(self) -> tuple[list[CheckpointRow], list[BlobRow], list[tuple[bool, WriteRow]]]:
        taken = list(self.checkpoints.values()), self.blobs, self.writes
        self.checkpoints, self.blobs, self.writes = {}, [], []
        return taken


HELD: ContextVar[Held | None] = ContextVar("steward_held_checkpoints", default=None)
"""The executor sets a :class:`Held` per run; unset (the graph driven directly), every put is stored at once."""


_COMPACTABLE = """
SELECT b.thread_id, b.channel, b.type, b.blob
  FROM checkpoint_blobs b JOIN checkpoints c USING (thread_id, checkpoint_ns)
 WHERE b.thread_id = ANY(%s) AND b.checkpoint_ns = '' AND b.type <> 'empty'
   AND (c.checkpoint -> 'channel_versions' ->> b.channel) = b.version
   AND NOT (coalesce(c.checkpoint -> 'channel_values', '{}') ? b.channel)"""
_INLINE = """
WITH inlined AS (
    UPDATE checkpoints c
       SET checkpoint = jsonb_set(c.checkpoint, '{channel_values}',
                                  coalesce(c.checkpoint -> 'channel_values', '{}') || m.moved)
      FROM unnest(%b::text[], %b::jsonb[]) AS m(thread_id, moved)
     WHERE c.thread_id = m.thread_id AND c.checkpoint_ns = '')
DELETE FROM checkpoint_blobs b USING unnest(%b::text[], %b::text[]) AS g(thread_id, channel)
 WHERE b.thread_id = g.thread_id AND b.checkpoint_ns = '' AND b.channel = g.channel"""


def plain_json(value: Any) -> bool:
    """Whether ``value`` comes back from a ``jsonb`` column exactly as it is: dicts with string keys, lists,
    strings Postgres accepts, booleans, integers, None and floats that Postgres does not print as integers."""
    if value is None or isinstance(value, (bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value) and "e" not in repr(value)
    if isinstance(value, str):
        return _encodable(value)
    if isinstance(value, list):
        return all(plain_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and plain_json(key) and plain_json(item) for key, item in value.items())
    return False


def _encodable(text: str) -> bool:
    """Text ``jsonb`` holds: no NUL character, no lone surrogate."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _statement(inserts: list[tuple[str, Jsonb]]) -> tuple[str, list[Jsonb]]:
    """INSERTs into different tables as one statement (all but the last as CTEs), with their parameters in order."""
    *ctes, (last, _) = inserts
    with_ = ",\n".join(f"w{i} AS ({query.strip()})" for i, (query, _) in enumerate(ctes))
    query = f"WITH {with_}\n{last.strip()}" if ctes else last.strip()
    return query, [rows for _, rows in inserts]


def _write_inserts(writes: list[tuple[bool, WriteRow]]) -> list[tuple[str, Jsonb]]:
    """INSERTs storing ``writes``, one per conflict action that has rows, each with its parameters."""
    inserts = []
    for overwrite in (True, False):
        rows = [row for flag, row in writes if flag is overwrite]
        if rows:
            inserts.append((PUT_WRITES.format(action=OVERWRITE if overwrite else "NOTHING"), json_param(rows)))
    return inserts


def _base64(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """An upstream blob or write row with its serialised value (the last field) in base64, for JSON."""
    *fields, value = row
    return (*fields, None if value is None else base64.b64encode(value).decode())


def _inline(value: Any) -> bool:
    """Whether a channel's value goes in the checkpoint's JSON as it is: a primitive that comes back from ``jsonb``
    unchanged (upstream inlines every primitive; a NaN, a NUL character or 1e20, read back as an integer, would
    not come back)."""
    return (value is None or isinstance(value, (str, int, float, bool))) and plain_json(value)


class PooledPostgresSaver(AsyncPostgresSaver):
    """``AsyncPostgresSaver`` on a pool: no process-wide lock, one round trip per write call."""

    conn: Pool

    def __init__(self, pool: Pool, **kwargs: Any) -> None:
        if not isinstance(pool, AsyncConnectionPool):
            raise TypeError("PooledPostgresSaver needs an AsyncConnectionPool")
        super().__init__(pool, **kwargs)

    def get_next_version(self, current: str | int | None, channel: None) -> str:
        """A channel version as upstream makes it, ``<counter>.<random>``, in 23 characters instead of 51: the
        counter in 10 digits (upstream pads to 32) and 48 random bits in hex. Versions are compared as strings
        (LangGraph takes their maximum) and all versions of a step are made from the thread's highest one, so a
        thread started before this keeps counting correctly: its 32-digit versions begin with ten zeros and sort
        below every 10-digit one. Every checkpoint holds each channel's version and each node's last-seen ones,
        and every blob row one: a refund's kept checkpoint is ~0.5 KB smaller."""
        counter = 0 if current is None else current if isinstance(current, int) else int(current.split(".")[0])
        return f"{counter + 1:010}.{random.getrandbits(48):012x}"

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
        """Put a checkpoint: primitive channel values inline, the others as versioned blobs. Held within a run of
        Steward's until its next durable point (see the module docstring), else stored at once."""
        conf = config["configurable"]
        thread_id, namespace = conf["thread_id"], conf.get("checkpoint_ns", "")
        inline = dict(checkpoint["channel_values"])
        blobs: dict[str, Any] = {}
        for channel, value in checkpoint["channel_values"].items():
            if isinstance(value, _DeltaSnapshot):
                blobs[channel], inline[channel] = value, True  # the blob holds it; True marks it inline
            elif not _inline(value):
                blobs[channel] = inline.pop(channel)
        versions = {channel: v for channel, v in new_versions.items() if channel in blobs}
        blob_rows = [_base64(row) for row in self._dump_blobs(thread_id, namespace, blobs, versions)]
        held = HELD.get()
        if held is None:  # outside a run: self-contained, whether or not its parent was compacted (see compact)
            inline |= {channel: value for channel, value in blobs.items() if plain_json(value)}
        row: CheckpointRow = (
            thread_id,
            namespace,
            checkpoint["id"],
            conf.get("checkpoint_id"),
            {**checkpoint, "channel_values": inline},
            get_serializable_checkpoint_metadata(config, metadata),
        )
        if held is None:
            await self._store([row], blob_rows, [], [])
        else:
            held.checkpoints[checkpoint["id"]] = row
            held.blobs += blob_rows
            if held.store_next:
                held.store_next = False
                await self.flush()
        return {"configurable": {"thread_id": thread_id, "checkpoint_ns": namespace, "checkpoint_id": checkpoint["id"]}}

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        """Put a task's pending writes (special channels overwrite, others are written once): held like
        checkpoints within a run of Steward's, else stored at once."""
        conf = config["configurable"]
        rows = [
            _base64(row)
            for row in self._dump_writes(
                conf["thread_id"], conf["checkpoint_ns"], conf["checkpoint_id"], task_id, task_path, writes
            )
        ]
        overwrite = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        held = HELD.get()
        if held is None:
            await self._store([], [], [(overwrite, row) for row in rows], [])
        else:
            held.writes += [(overwrite, row) for row in rows]

    async def flush(self, *, store_next: bool = False) -> None:
        """A durable point: store everything the run holds (checkpoints, blobs, task writes, audit events) in one
        statement. ``store_next``: the run's next checkpoint is stored at once too (it follows a write)."""
        held = HELD.get()
        events = audit.PENDING.get() or []
        taken_events, events[:] = list(events), []
        if held is None:
            await self._store([], [], [], taken_events)
            return
        held.store_next = held.store_next or store_next
        await self._store(*held.take(), taken_events)

    async def compact(self, conn: Conn, keys: list[str]) -> int:
        """For threads that keep one checkpoint and take no more runs (retention's finished cases): move the values
        of its blobs that are plain JSON into the checkpoint's row and delete those blobs; returns how many moved.
        LangGraph loads inline values and blobs alike, so the state reads the same. A later run's checkpoints
        would refer to those blobs by version, hence only threads no run continues; a put outside a run
        (``aupdate_state``) stores its plain values inline, so it needs no blob of a compacted parent."""
        rows = await (await conn.execute(_COMPACTABLE, (keys,))).fetchall()
        moved: dict[str, dict[str, Any]] = {}
        for row in rows:
            value = self.serde.loads_typed((row["type"], row["blob"]))
            if plain_json(value):
                moved.setdefault(row["thread_id"], {})[row["channel"]] = value
        if moved:
            gone = [(thread, channel) for thread, values in moved.items() for channel in values]
            await conn.execute(
                _INLINE,
                (
                    list(moved),
                    [Jsonb(values) for values in moved.values()],
                    [thread for thread, _ in gone],
                    [channel for _, channel in gone],
                ),
            )
        return sum(len(values) for values in moved.values())

    async def _store(
        self,
        checkpoints: list[CheckpointRow],
        blobs: list[BlobRow],
        writes: list[tuple[bool, WriteRow]],
        events: list[tuple[Any, ...]],
    ) -> None:
        inserts = [(audit.INSERT, json_param(events))] if events else []
        inserts += _write_inserts(writes)
        if blobs:
            inserts.append((PUT_BLOBS, json_param(blobs)))
        if checkpoints:
            inserts.append((PUT_CHECKPOINTS, json_param(checkpoints)))
        if not inserts:
            return
        query, params = _statement(inserts)
        async with self.conn.connection() as conn:
            await conn.execute(trusted(query), params)
