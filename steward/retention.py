"""Bounded storage: thread TTLs, checkpoint retention for finished threads, and ``steward prune``.

* **Thread TTL** (as LangGraph Server has it): a thread created with ``ttl`` (minutes) expires that long after it
  was created (``PATCH`` sets it anew); a thread without one expires after its workflow's ``thread_ttl`` of
  inactivity, if the workflow declares one. Expired threads are deleted with their runs and checkpoints by the
  workers' sweeper, in batches, and only when *finished* (``idle`` or ``error``): never a thread with a run in
  flight (``busy``) or one waiting for people (``interrupted``).
* **Checkpoint retention**: a finished thread keeps only its latest checkpoint (with the blobs and writes that
  checkpoint needs), so its state and the final entry of its history still read; the intermediate ones go once
  the thread has been finished for ``STEWARD_CHECKPOINT_RETENTION_S``. A thread that handled its case (no run
  may start on it again) then keeps its plain values in that checkpoint's row instead of blobs.
* The **audit trail** is the durable record (replay re-executes from it alone) and has a retention of its own:
  kept for ever unless ``STEWARD_AUDIT_RETENTION_DAYS`` is set, then events older than that go, except those of
  threads in flight or waiting for people. The owner sets it; the service role can only ask Postgres to apply
  it (``steward.prune_audit``), never delete an event itself.

Each batch is one transaction that locks the threads it prunes (``FOR UPDATE SKIP LOCKED``, re-checking that they
are finished), so a run starting on a thread at the same moment either waits for the prune or is not pruned.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from steward.checkpoint import PooledPostgresSaver
from steward.pool import Conn, Pool, one, trusted
from steward.threads import CHECKPOINT_TABLES, checkpoint_thread
from steward.workflow import Catalog

FINISHED = ("idle", "error")
BATCH = 500


class Pruned(BaseModel):
    threads_deleted: int = 0
    checkpoints_deleted: int = 0
    blobs_deleted: int = 0
    writes_deleted: int = 0
    audit_events_deleted: int = 0

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(**{k: getattr(self, k) + getattr(other, k) for k in Pruned.model_fields})


def _expired(catalog: Catalog) -> tuple[str, dict[str, Any]]:
    """The condition for an expired thread, and its parameters."""
    terms, params = ["expires_at < now()"], {}
    for i, (name, workflow) in enumerate(sorted(catalog.items())):
        if workflow.thread_ttl is not None:
            terms.append(f"(expires_at IS NULL AND workflow = %(wf{i})s AND updated_at < now() - %(ttl{i})s::interval)")
            params |= {f"wf{i}": name, f"ttl{i}": workflow.thread_ttl}
    return " OR ".join(terms), params


async def _locked(
    conn: Conn, where: str, params: dict[str, Any], limit: int, tenant: str | None
) -> list[tuple[str, str]]:
    """(tenant, thread_id) of up to ``limit`` finished threads matching ``where``, locked (busy ones skipped)."""
    cur = await conn.execute(
        trusted(
            f"SELECT tenant, thread_id FROM steward.threads WHERE status IN ('idle', 'error') AND ({where})"
            " AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s) ORDER BY updated_at LIMIT %(limit)s"
            " FOR UPDATE SKIP LOCKED"
        ),
        {**params, "limit": limit, "tenant": tenant},
    )
    return [(row["tenant"], row["thread_id"]) for row in await cur.fetchall()]


_THREADS = "(tenant, thread_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
"""Rows of the (tenant, thread_id) pairs given as two arrays."""


def _pair_arrays(pairs: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """The pairs as the two arrays :data:`_THREADS` takes."""
    return [tenant for tenant, _ in pairs], [thread for _, thread in pairs]


def _keys(pairs: list[tuple[str, str]]) -> list[str]:
    return [checkpoint_thread(tenant, thread) for tenant, thread in pairs]


async def delete_expired(
    pool: Pool,
    catalog: Catalog,
    *,
    tenant: str | None = None,
    batch: int = BATCH,
    dry_run: bool = False,
) -> Pruned:
    """Delete one batch of expired, finished threads (of ``tenant``, or all) with their runs and checkpoints
    (audit events stay)."""
    where, params = _expired(catalog)
    async with pool.connection() as conn, conn.transaction():
        pairs = await _locked(conn, where, params, batch, tenant)
        if not pairs or dry_run:
            return Pruned(threads_deleted=len(pairs))
        counts = {}
        for table in CHECKPOINT_TABLES:
            query = trusted(f"DELETE FROM {table} WHERE thread_id = ANY(%s)")
            counts[table] = (await conn.execute(query, (_keys(pairs),))).rowcount
        await conn.execute(trusted(f"DELETE FROM steward.runs WHERE {_THREADS}"), _pair_arrays(pairs))
        await conn.execute(trusted(f"DELETE FROM steward.threads WHERE {_THREADS}"), _pair_arrays(pairs))
    return Pruned(
        threads_deleted=len(pairs),
        checkpoints_deleted=counts["checkpoints"],
        blobs_deleted=counts["checkpoint_blobs"],
        writes_deleted=counts["checkpoint_writes"],
    )


_OLD_CHECKPOINTS = """
WITH latest AS (
    SELECT DISTINCT ON (thread_id) thread_id, checkpoint_id, checkpoint -> 'channel_versions' AS versions
      FROM checkpoints WHERE thread_id = ANY(%(ids)s) AND checkpoint_ns = ''
     ORDER BY thread_id, checkpoint_id DESC),
writes AS (
    DELETE FROM checkpoint_writes w USING latest l
     WHERE w.thread_id = l.thread_id AND (w.checkpoint_ns <> '' OR w.checkpoint_id <> l.checkpoint_id)
    RETURNING 1),
blobs AS (
    DELETE FROM checkpoint_blobs b USING latest l
     WHERE b.thread_id = l.thread_id
       AND (b.checkpoint_ns <> '' OR (l.versions ->> b.channel) IS DISTINCT FROM b.version)
    RETURNING 1),
points AS (
    DELETE FROM checkpoints c USING latest l
     WHERE c.thread_id = l.thread_id AND (c.checkpoint_ns <> '' OR c.checkpoint_id <> l.checkpoint_id)
    RETURNING 1)
SELECT (SELECT count(*) FROM points) AS checkpoints, (SELECT count(*) FROM blobs) AS blobs,
       (SELECT count(*) FROM writes) AS writes
"""


_CASES_HANDLED = f"""
SELECT tenant, thread_id FROM steward.threads WHERE {_THREADS} AND status = 'idle' AND state_values IS NOT NULL
"""
"""Of the given threads, those that handled their case: no run may start on them again."""


async def keep_latest_checkpoints(
    saver: PooledPostgresSaver,
    finished_for: timedelta,
    *,
    tenant: str | None = None,
    batch: int = BATCH,
    dry_run: bool = False,
) -> Pruned:
    """For one batch of threads finished at least ``finished_for`` ago that still have earlier checkpoints, delete
    all but the latest checkpoint and what it does not need; of a thread that handled its case, the latest
    checkpoint then holds its plain values itself, without blobs (:meth:`PooledPostgresSaver.compact`)."""
    async with saver.conn.connection() as conn, conn.transaction():
        pairs = await _locked(
            conn,
            "updated_at < now() - %(age)s::interval AND EXISTS (SELECT 1 FROM checkpoints c WHERE"
            " c.thread_id = threads.tenant || '/' || threads.thread_id AND c.checkpoint_ns = '' OFFSET 1)",
            {"age": finished_for},
            batch,
            tenant,
        )
        if not pairs:
            return Pruned()
        keys = _keys(pairs)
        if dry_run:
            cur = await conn.execute(
                "SELECT count(*) - count(DISTINCT thread_id) AS n FROM checkpoints WHERE thread_id = ANY(%s)", (keys,)
            )
            return Pruned(checkpoints_deleted=(await one(cur))["n"])
        row = await one(await conn.execute(_OLD_CHECKPOINTS, {"ids": keys}))
        cur = await conn.execute(trusted(_CASES_HANDLED), _pair_arrays(pairs))
        handled = _keys([(found["tenant"], found["thread_id"]) for found in await cur.fetchall()])
        inlined = await saver.compact(conn, handled) if handled else 0
    return Pruned(
        checkpoints_deleted=row["checkpoints"], blobs_deleted=row["blobs"] + inlined, writes_deleted=row["writes"]
    )


async def prune_audit(
    pool: Pool, *, tenant: str | None = None, batch: int = 10 * BATCH, dry_run: bool = False
) -> Pruned:
    """One batch of the audit trail's retention (nothing while ``STEWARD_AUDIT_RETENTION_DAYS`` is unset); a dry
    run counts everything due."""
    async with pool.connection() as conn:
        if dry_run:  # the same events the pruning would delete (steward.audit_due), all of them
            cur = await conn.execute("SELECT count(*) AS n FROM steward.audit_due(NULL, %s)", (tenant,))
            return Pruned(audit_events_deleted=(await one(cur))["n"])
        cur = await conn.execute("SELECT steward.prune_audit(%s, %s) AS n", (batch, tenant))
        return Pruned(audit_events_deleted=(await one(cur))["n"])


async def prune(
    saver: PooledPostgresSaver,
    catalog: Catalog,
    finished_for: timedelta,
    *,
    tenant: str | None = None,
    dry_run: bool = False,
) -> Pruned:
    """Everything due: expired threads, old checkpoints of threads finished ``finished_for`` ago, then audit events
    past their retention, batch by batch until none is left (a dry run counts one batch of each)."""
    total, pool = Pruned(), saver.conn
    for step in (
        lambda: delete_expired(pool, catalog, tenant=tenant, dry_run=dry_run),
        lambda: keep_latest_checkpoints(saver, finished_for, tenant=tenant, dry_run=dry_run),
        lambda: prune_audit(pool, tenant=tenant, dry_run=dry_run),
    ):
        while True:
            done = await step()
            total += done
            if dry_run or done == Pruned():
                break
    return total
