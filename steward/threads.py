"""Threads: a tenant's conversation with one workflow, with its status and a cached copy of its last state.

Thread ids are per tenant: a thread is ``(tenant, thread_id)``, so two tenants may each create ``t-1`` and
neither can tell (by a 409 or otherwise) that the other did. LangGraph's checkpoints are keyed by one string, the
:func:`checkpoint_thread` of the pair.

Status follows LangGraph Server: ``idle`` (nothing running), ``busy`` (a run is pending or running),
``interrupted`` (waiting for a human), ``error`` (the last run failed). The checkpointer holds the real state;
``state_values`` and ``interrupts`` are refreshed when each run ends so threads can be listed cheaply.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from langchain_core.runnables import RunnableConfig
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field

from steward.errors import Conflict, NotFound
from steward.pool import Conn, Pool, one, trusted
from steward.statuses import ThreadStatus

THREAD_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
COLUMNS = (
    "thread_id, tenant, workflow, created_by, created_at, updated_at, metadata, status, state_values,"
    " interrupts, overrides, error, expires_at"
)
SORTABLE = {"thread_id", "status", "created_at", "updated_at"}


class Thread(BaseModel):
    thread_id: str
    tenant: str
    workflow: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)
    status: ThreadStatus = "idle"
    state_values: dict[str, Any] | None = None
    interrupts: dict[str, Any] = Field(default_factory=dict)
    overrides: dict[str, Any] = Field(default_factory=dict)
    """Per-thread budget and model overrides, applied on every run of the thread."""
    error: str | None = None
    expires_at: datetime | None = None
    """When the thread is deleted (its ``ttl``; see :mod:`steward.retention`), if it has one."""

    def public(self) -> dict[str, Any]:
        """The thread as the LangGraph SDK reads it."""
        return {
            "thread_id": self.thread_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "metadata": self.metadata,
            "status": self.status,
            "values": self.state_values or {},
            "interrupts": self.interrupts,
            "error": self.error,
            "config": {"configurable": {}},
            "state_updated_at": self.updated_at,
            "expires_at": self.expires_at,
        }


ThreadField = Literal[
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "status",
    "values",
    "interrupts",
    "error",
    "config",
    "expires_at",
]
"""The fields of :meth:`Thread.public` (what a search may ``select``)."""
PUBLIC_FIELDS: frozenset[str] = frozenset(get_args(ThreadField))


def new_thread_id() -> str:
    return str(uuid.uuid4())


def checkpoint_thread(tenant: str, thread_id: str) -> str:
    """The thread id LangGraph's checkpoints of this thread are stored under: ``<tenant>/<thread_id>``. Thread ids
    hold no ``/`` (:data:`THREAD_ID`), so the last ``/`` splits it back and two threads never share one."""
    return f"{tenant}/{thread_id}"


def checkpoint_config(tenant: str, thread_id: str, **selector: str) -> RunnableConfig:
    """A LangGraph config reading the thread's checkpoints (``selector``: ``checkpoint_id``, ``checkpoint_ns``)."""
    return RunnableConfig(configurable={**selector, "thread_id": checkpoint_thread(tenant, thread_id)})


async def create(
    pool: Pool,
    *,
    tenant: str,
    created_by: str,
    thread_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    workflow: str | None = None,
    overrides: dict[str, Any] | None = None,
    if_exists: Literal["raise", "do_nothing"] = "raise",
    ttl_minutes: float | None = None,
) -> Thread:
    """Create a thread; an existing id is a Conflict (``raise``) or returned as it is (``do_nothing``).
    ``ttl_minutes``: delete it (once finished) that long from now."""
    thread_id = thread_id or new_thread_id()
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO steward.threads (thread_id, tenant, workflow, created_by, metadata, overrides, expires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s * 60))"
            f" ON CONFLICT (tenant, thread_id) DO NOTHING RETURNING {COLUMNS}",
            (thread_id, tenant, workflow, created_by, Jsonb(metadata or {}), Jsonb(overrides or {}), ttl_minutes),
        )
        row = await cur.fetchone()
    if row is not None:
        return Thread.model_validate(row)
    if if_exists == "do_nothing":
        return await get(pool, thread_id, tenant)
    raise Conflict(f"thread {thread_id} already exists")  # in this tenant: ids are per tenant


async def update(
    pool: Pool,
    thread_id: str,
    tenant: str,
    *,
    metadata: dict[str, Any],
    ttl_minutes: float | None = None,
) -> Thread:
    """Merge ``metadata`` into the thread's; ``ttl_minutes`` sets its expiry anew, counted from now."""
    await get(pool, thread_id, tenant)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE steward.threads SET metadata = metadata || %s, updated_at = now(),"
            " expires_at = coalesce(now() + make_interval(secs => %s * 60), expires_at)"
            " WHERE tenant = %s AND thread_id = %s",
            (Jsonb(metadata), ttl_minutes, tenant, thread_id),
        )
    return await get(pool, thread_id, tenant)


async def get(pool: Pool | Conn, thread_id: str, tenant: str, *, for_update: bool = False) -> Thread:
    """A thread of ``tenant``; another tenant's thread is reported as unknown."""
    lock = " FOR UPDATE" if for_update else ""
    query = trusted(f"SELECT {COLUMNS} FROM steward.threads WHERE thread_id = %s AND tenant = %s{lock}")
    if isinstance(pool, AsyncConnection):
        row = await (await pool.execute(query, (thread_id, tenant))).fetchone()
    else:
        async with pool.connection() as conn:
            row = await (await conn.execute(query, (thread_id, tenant))).fetchone()
    if row is None:
        raise NotFound(f"unknown thread {thread_id!r} in tenant {tenant!r}")
    return Thread.model_validate(row)


def _filters(
    tenant: str,
    status: str | None,
    metadata: dict[str, Any] | None,
    values: dict[str, Any] | None,
    ids: list[str] | None,
) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) selecting a tenant's threads by status, containment and ids."""
    where: list[str] = ["tenant = %s"]
    params: list[Any] = [tenant]
    if status:
        where.append("status = %s")
        params.append(status)
    if metadata:
        where.append("metadata @> %s")
        params.append(Jsonb(metadata))
    if values:
        where.append("state_values @> %s")
        params.append(Jsonb(values))
    if ids is not None:
        where.append("thread_id = ANY(%s)")
        params.append(ids)
    return " AND ".join(where), params


async def search(
    pool: Pool,
    tenant: str,
    *,
    status: str | None = None,
    metadata: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    ids: list[str] | None = None,
    limit: int = 10,
    offset: int = 0,
    sort_by: str = "created_at",
    sort_order: str = "desc",
    with_values: bool = True,
) -> list[Thread]:
    """A tenant's threads filtered by status, metadata / values containment and ids. ``with_values`` False leaves
    out their cached state (the bulk of a row) for readers that do not show it."""
    where, params = _filters(tenant, status, metadata, values, ids)
    order = f"{sort_by} {'ASC' if sort_order == 'asc' else 'DESC'}" if sort_by in SORTABLE else "created_at DESC"
    columns = COLUMNS if with_values else COLUMNS.replace("state_values", "NULL AS state_values")
    query = trusted(
        f"SELECT {columns} FROM steward.threads WHERE {where} ORDER BY {order}, thread_id LIMIT %s OFFSET %s"
    )
    async with pool.connection() as conn:
        rows = await (await conn.execute(query, [*params, limit, offset])).fetchall()
    return [Thread.model_validate(row) for row in rows]


async def count(
    pool: Pool,
    tenant: str,
    *,
    status: str | None = None,
    metadata: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    ids: list[str] | None = None,
) -> int:
    """How many of a tenant's threads :func:`search` would find without paging."""
    where, params = _filters(tenant, status, metadata, values, ids)
    async with pool.connection() as conn:
        row = await one(await conn.execute(trusted(f"SELECT count(*) AS n FROM steward.threads WHERE {where}"), params))
    return row["n"]


CHECKPOINT_TABLES = ("checkpoint_writes", "checkpoint_blobs", "checkpoints")
"""The checkpointer's tables (langgraph-checkpoint-postgres), each keyed by ``thread_id`` (a
:func:`checkpoint_thread`)."""


async def delete(pool: Pool, thread_id: str, tenant: str) -> None:
    """Delete a thread, its runs and its checkpoints in one transaction, so a freed id never carries old state
    (its audit events stay). A busy thread is a Conflict."""
    async with pool.connection() as conn, conn.transaction():
        thread = await get(conn, thread_id, tenant, for_update=True)
        if thread.status == "busy":
            raise Conflict(f"thread {thread_id} has a run in progress; cancel it first")
        await conn.execute("DELETE FROM steward.threads WHERE tenant = %s AND thread_id = %s", (tenant, thread_id))
        for table in CHECKPOINT_TABLES:
            await conn.execute(f"DELETE FROM {table} WHERE thread_id = %s", (checkpoint_thread(tenant, thread_id),))
