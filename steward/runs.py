"""Run records in Postgres: submit, claim, lease, cancel, finish. Execution lives in :mod:`steward.executor`.

Guarantees, all held by Postgres rather than process memory:

* one run at a time per thread: a partial unique index allows one ``running`` run per thread, and run
  creation locks the thread row (``reject`` answers 409 while a run is pending or running; ``enqueue`` queues);
* runs are claimed with ``FOR UPDATE SKIP LOCKED`` in creation order per thread, and held under a lease that the
  executor renews; a run whose lease lapses (its worker died) goes back to ``pending`` for another worker.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from steward import escalations, metrics, threads
from steward.approvals import ApprovalRequest, ApprovalResponse, check_response, parse_response
from steward.errors import Conflict, InvalidRequest, NotFound
from steward.jsonable import jsonable
from steward.pool import Pool
from steward.statuses import RUN_ACTIVE, RUN_ENDED, RunStatus
from steward.workflow import assistant_id

Strategy = Literal["reject", "enqueue"]
TERMINAL = RUN_ENDED
ACTIVE = RUN_ACTIVE
CHANNEL = "steward_runs"
MAX_ATTEMPTS = 3
COLUMNS = (
    "run_id, thread_id, tenant, workflow, status, payload, created_by, metadata, multitask_strategy, attempt,"
    " worker, error, outcome, cancel_requested, overrides, created_at, updated_at, trace_id, webhook"
)


class Run(BaseModel):
    run_id: str
    thread_id: str
    tenant: str
    workflow: str
    status: RunStatus
    payload: dict[str, Any]
    """``{"input": {...}}`` or ``{"command": {"resume": {...}}}``."""
    created_by: str
    metadata: dict[str, Any] = {}
    multitask_strategy: str = "reject"
    attempt: int = 0
    worker: str | None = None
    error: str | None = None
    outcome: dict[str, Any] | None = None
    cancel_requested: bool = False
    overrides: dict[str, Any] = {}
    """The thread's budget and model overrides, copied when the run was created."""
    created_at: datetime
    updated_at: datetime
    trace_id: str | None = None
    """The OpenTelemetry trace of the run's case (when tracing is on): the same id is on its audit events."""
    webhook: str | None = None
    """Where the run's record is POSTed when it ends (see :mod:`steward.webhooks`)."""

    def public(self) -> dict[str, Any]:
        """The run as the LangGraph SDK reads it. As LangGraph Server does, its metadata names the assistant and
        graph and who created it, and ``kwargs`` holds what it was started with (the decision of a resume
        included, its decider set by Steward)."""
        assistant = assistant_id(self.workflow)
        return {
            "run_id": self.run_id,
            "thread_id": self.thread_id,
            "assistant_id": assistant,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "status": self.status,
            "metadata": {
                "assistant_id": assistant,
                "graph_id": self.workflow,
                "created_by": self.created_by,
                **self.metadata,
            },
            "kwargs": {
                "input": self.payload.get("input"),
                "command": self.payload.get("command"),
                "config": {"configurable": {}},
                "context": self.overrides,
                "webhook": self.webhook,
            },
            "langsmith_session_name": None,
            "multitask_strategy": self.multitask_strategy,
            "attempt": self.attempt,
            "error": self.error,
            "outcome": self.outcome,
            "trace_id": self.trace_id,
            "webhook": self.webhook,
        }


def _resume_payload(payload: dict[str, Any], user: str) -> tuple[dict[str, Any], ApprovalResponse]:
    """A resume command, validated, with the decider set to the caller whatever the body says."""
    if "resume" not in payload["command"]:
        raise InvalidRequest("command must carry 'resume' (goto and update are not supported)")
    response = parse_response(payload["command"]["resume"])
    response.decided_by = user
    return {"command": {"resume": response.model_dump(mode="json")}}, response


def pending_interrupts(interrupts: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The interrupts a thread waits on (``{"id", "value"}`` each), flattened across the tasks that raised them."""
    return [item for items in interrupts.values() for item in items]


def _check_resume(thread: threads.Thread, response: ApprovalResponse, *, expiring: bool = False) -> str:
    """Refuse a decision the thread's pending approval does not allow, that comes after it expired, or that comes
    when it has none (even queued behind a running run: nobody approves a request they have not seen). Returns
    the interrupt id the decision is bound to: once its turn comes, it applies to that request or to nothing.
    ``expiring``: Steward itself ends an expired request (the run escalates with ``approval.expired``)."""
    pending = pending_interrupts(thread.interrupts)
    if not pending:
        raise Conflict(f"thread {thread.thread_id} is not waiting for an approval")
    request = ApprovalRequest.model_validate(pending[0]["value"])
    if expiring:
        if not request.expired():
            raise Conflict(f"the approval request of thread {thread.thread_id} has not expired")
    else:
        check_response(request, response)
    return pending[0]["id"]


EXPIRY = "steward:expiry"
"""The decider Steward names when it ends an expired approval request."""
_EXPIRED = """
SELECT thread_id, tenant, workflow FROM steward.threads
 WHERE status = 'interrupted' AND EXISTS (
       SELECT 1 FROM jsonb_each(interrupts) AS t(task, items), jsonb_array_elements(items) AS i
        WHERE (i -> 'value' ->> 'expires_at')::timestamptz <= now())
 ORDER BY updated_at LIMIT %s
"""


async def expire_approvals(pool: Pool, limit: int = 100) -> list[str]:
    """Queue a run for each thread whose approval request expired unanswered (it escalates with
    ``approval.expired``); returns their thread ids. A decision that got there first wins."""
    async with pool.connection() as conn:
        rows = await (await conn.execute(_EXPIRED, (limit,))).fetchall()
    expired = []
    for row in rows:
        try:
            await submit(
                pool,
                thread_id=row["thread_id"],
                tenant=row["tenant"],
                user=EXPIRY,
                workflow=row["workflow"],
                payload={"command": {"resume": {"decisions": [{"type": "reject", "message": "approval expired"}]}}},
                expiring=True,
            )
            expired.append(row["thread_id"])
        except Conflict:  # decided (or being decided) meanwhile
            continue
    return expired


def already_ran(thread_id: str) -> str:
    return (
        f"thread {thread_id} already handled a case (one case per thread): start a new thread,"
        " or resume the pending approval with command.resume"
    )


_INSERT_RUN = (
    "INSERT INTO steward.runs (run_id, thread_id, tenant, workflow, status, payload, created_by, metadata,"
    " multitask_strategy, attempt, worker, lease_until, claimable_at, overrides, webhook)"
)
_SUBMIT_FRESH = f"""
WITH claimed AS (
    UPDATE steward.threads SET status = 'busy', workflow = %(workflow)s, updated_at = now(),
           metadata = metadata || %(labels)s
     WHERE thread_id = %(thread)s AND tenant = %(tenant)s AND status <> 'busy' AND state_values IS NULL
       AND (workflow IS NULL OR workflow = %(workflow)s)
 RETURNING thread_id, overrides)
{_INSERT_RUN}
SELECT %(run)s, thread_id, %(tenant)s, %(workflow)s, %(status)s, %(payload)s, %(user)s, %(metadata)s, 'reject',
       %(attempt)s, %(worker)s, now() + make_interval(secs => %(lease)s), now() + make_interval(secs => %(grace)s),
       overrides, %(webhook)s
  FROM claimed RETURNING {COLUMNS}
"""


async def _submit_fresh(pool: Pool, params: dict[str, Any]) -> Run | None:
    """The common case in one statement: a new input on a free thread that has not run yet. The thread row's
    status is the mutex (the UPDATE re-checks it on the latest row version). None: take the general path."""
    async with pool.connection() as conn:
        row = await (await conn.execute(_SUBMIT_FRESH, params)).fetchone()
        if row is not None and params["worker"] is None:
            await conn.execute("SELECT pg_notify(%s, 'queued')", (CHANNEL,))
    return Run.model_validate(row) if row else None


async def submit(
    pool: Pool,
    *,
    thread_id: str,
    tenant: str,
    user: str,
    workflow: str,
    payload: dict[str, Any],
    metadata: dict[str, Any] | None = None,
    strategy: Strategy = "reject",
    worker: str | None = None,
    lease_s: float = 30.0,
    grace_s: float = 0.0,
    overrides: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    expiring: bool = False,
    webhook: str | None = None,
) -> Run:
    """Create a run on a thread (the thread row is the lock: one run at a time per thread).

    Args:
        thread_id: the tenant's thread.
        tenant: the caller's tenant (another tenant's thread is unknown).
        user: who asks; for a resume, the decider whatever the body says.
        workflow: the workflow the thread runs (fixed by its first run).
        payload: ``{"input": ...}`` (already validated) or ``{"command": {"resume": ...}}``.
        metadata: the run's metadata.
        strategy: ``reject`` (409 while the thread is busy) or ``enqueue`` (wait behind the running run).
        worker: the caller executes the run now (status ``running``) when the thread is free; None queues it
            as ``pending`` for workers.
        lease_s: how long the executing worker holds the run without a heartbeat.
        grace_s: how long workers leave a queued inline run to the process that accepted it.
        overrides: budget and model routing, fixed by the thread's first run.
        labels: merged into the thread's metadata (``graph_id`` always; the server adds ``assistant_id``).
        expiring: Steward ends an expired approval request (see :func:`expire_approvals`).
        webhook: a URL the run's record is POSTed to when it ends.

    Returns:
        The run record.

    Raises:
        NotFound: no such thread in the tenant.
        Conflict: the thread is busy (``reject``), already ran its case, belongs to another workflow, or waits
            for no approval (a resume); a resume is bound to the request pending now.
        InvalidRequest: a malformed resume, or overrides that differ from the thread's.
        Forbidden: the decider may not approve (the requester, or an approver deciding twice).
    """
    thread_labels = Jsonb({"graph_id": workflow, **(labels or {})})
    response = None
    if "command" in payload:
        payload, response = _resume_payload(payload, user)
    elif strategy == "reject" and not overrides:
        fresh = await _submit_fresh(
            pool,
            {
                "run": str(uuid.uuid4()),
                "thread": thread_id,
                "tenant": tenant,
                "workflow": workflow,
                "status": "running" if worker else "pending",
                "payload": Jsonb(payload),
                "user": user,
                "metadata": Jsonb(metadata or {}),
                "attempt": 1 if worker else 0,
                "worker": worker,
                "lease": lease_s if worker else None,
                "grace": grace_s,
                "labels": thread_labels,
                "webhook": webhook,
            },
        )
        if fresh is not None:
            return fresh
    async with pool.connection() as conn, conn.transaction():
        thread = await threads.get(conn, thread_id, tenant, for_update=True)
        if thread.workflow and thread.workflow != workflow:
            raise Conflict(f"thread {thread_id} belongs to workflow {thread.workflow!r}, not {workflow!r}")
        if overrides and thread.workflow is None:
            await conn.execute(
                "UPDATE steward.threads SET overrides = %s WHERE tenant = %s AND thread_id = %s",
                (Jsonb(overrides), tenant, thread_id),
            )
        elif overrides and overrides != thread.overrides:
            raise InvalidRequest("budget and model overrides are fixed by a thread's first run")
        overrides = overrides if thread.workflow is None and overrides else thread.overrides
        cur = await conn.execute(
            "SELECT run_id FROM steward.runs WHERE tenant = %s AND thread_id = %s AND status = ANY(%s)"
            " ORDER BY created_at LIMIT 1",
            (tenant, thread_id, list(ACTIVE)),
        )
        if (busy := await cur.fetchone()) is not None and strategy == "reject":
            raise Conflict(
                f"thread {thread_id} is busy with run {busy['run_id']};"
                " wait for it, or send multitask_strategy 'enqueue'"
            )
        if response is not None:
            payload = {**payload, "interrupt_id": _check_resume(thread, response, expiring=expiring)}
        elif busy is None and thread.state_values:  # a queued input is checked once its turn comes
            raise Conflict(already_ran(thread_id))
        run_now = worker is not None and busy is None
        cur = await conn.execute(
            f"{_INSERT_RUN} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s),"
            f" now() + make_interval(secs => %s), %s, %s) RETURNING {COLUMNS}",
            (
                str(uuid.uuid4()),
                thread_id,
                tenant,
                workflow,
                "running" if run_now else "pending",
                Jsonb(payload),
                user,
                Jsonb(metadata or {}),
                strategy,
                1 if run_now else 0,
                worker if run_now else None,
                lease_s if run_now else None,
                grace_s,
                Jsonb(overrides or {}),
                webhook,
            ),
        )
        run = Run.model_validate(await cur.fetchone())
        await conn.execute(
            "UPDATE steward.threads SET status = 'busy', workflow = %s, updated_at = now(),"
            " metadata = metadata || %s WHERE tenant = %s AND thread_id = %s",
            (workflow, thread_labels, tenant, thread_id),
        )
        if not run_now:
            await conn.execute("SELECT pg_notify(%s, 'queued')", (CHANNEL,))
    return run


_RUNNABLE = """
    SELECT r.run_id, r.created_at FROM steward.runs r
     WHERE r.status = 'pending' AND {which}
       AND NOT EXISTS (SELECT 1 FROM steward.runs o WHERE o.tenant = r.tenant AND o.thread_id = r.thread_id
                        AND (o.status = 'running' OR (o.status = 'pending' AND o.created_at < r.created_at)))
     ORDER BY r.created_at LIMIT 1 FOR UPDATE OF r SKIP LOCKED"""
_START = """
UPDATE steward.runs SET status = 'running', attempt = attempt + 1, worker = %(worker)s, updated_at = now(),
       lease_until = now() + make_interval(secs => %(lease)s)
  FROM next WHERE runs.run_id = next.run_id RETURNING {columns}
"""
_NEXT_OWN = f"WITH next AS ({_RUNNABLE.format(which='r.run_id = %(run_id)s')}){_START}"
_NEXT_FAIR = f"""
WITH waiting AS (
    SELECT DISTINCT tenant FROM steward.runs WHERE status = 'pending' AND claimable_at <= now()),
candidates AS (
    SELECT c.run_id, c.created_at,
           (SELECT count(*) FROM steward.runs x WHERE x.tenant = w.tenant AND x.status = 'running') AS running
      FROM waiting w,
           LATERAL ({_RUNNABLE.format(which="r.tenant = w.tenant AND r.claimable_at <= now()")}) c),
next AS (SELECT run_id FROM candidates ORDER BY running, created_at LIMIT 1)
{_START}"""
"""Fair claims: the next run is the oldest runnable one of the tenant with the fewest runs executing now, so a
tenant that queues 10,000 runs delays another tenant's next run by at most one claim. (Per-tenant in-flight
limits would also bound it, but leave capacity idle when only one tenant has work.)"""


_RUN_COLUMNS = ", ".join(f"runs.{c.strip()}" for c in COLUMNS.split(","))


async def claim(pool: Pool, worker: str, lease_s: float, run_id: str | None = None) -> Run | None:
    """Take the next runnable pending run (or exactly ``run_id``, even before its grace period ends)."""
    query = (_NEXT_OWN if run_id else _NEXT_FAIR).format(columns=_RUN_COLUMNS)
    try:
        async with pool.connection() as conn:
            cur = await conn.execute(query, {"worker": worker, "lease": lease_s, "run_id": run_id})
            row = await cur.fetchone()
    except psycopg.errors.UniqueViolation:  # another worker started a run of this thread at the same moment
        return None
    return Run.model_validate(row) if row else None


async def renew_lease(pool: Pool, run_id: str, worker: str, lease_s: float) -> bool | None:
    """Extend a lease; returns whether cancellation was requested, or None if the run is no longer ours."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "UPDATE steward.runs SET lease_until = now() + make_interval(secs => %s)"
            " WHERE run_id = %s AND worker = %s AND status = 'running' RETURNING cancel_requested",
            (lease_s, run_id, worker),
        )
        row = await cur.fetchone()
    return None if row is None else row["cancel_requested"]


async def requeue_expired(pool: Pool) -> list[str]:
    """Put runs whose lease lapsed back in the queue (or fail them after MAX_ATTEMPTS). Returns their ids."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "UPDATE steward.runs SET status = CASE WHEN attempt >= %s THEN 'error' ELSE 'pending' END,"
            " error = CASE WHEN attempt >= %s THEN 'gave up: its worker died ' || attempt || ' times' END,"
            " worker = NULL, lease_until = NULL, claimable_at = now(), updated_at = now()"
            " WHERE status = 'running' AND lease_until < now() RETURNING run_id, status, tenant, thread_id",
            (MAX_ATTEMPTS, MAX_ATTEMPTS),
        )
        rows = await cur.fetchall()
        for row in rows:
            if row["status"] == "error":
                await conn.execute(
                    "UPDATE steward.threads SET status = 'error', error = 'run failed' ||"
                    " ' repeatedly', updated_at = now() WHERE tenant = %s AND thread_id = %s",
                    (row["tenant"], row["thread_id"]),
                )
                # the run has ended: its joiners wake now, not at their safety re-check
                note = f"done:{row['run_id']}:{row['thread_id']}"
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, note))
        if rows:
            await conn.execute("SELECT pg_notify(%s, 'queued')", (CHANNEL,))
    return [row["run_id"] for row in rows]


_FINISH = """
WITH done AS (
    UPDATE steward.runs SET status = %(status)s, error = %(error)s, outcome = %(outcome)s, worker = NULL,
           lease_until = NULL, updated_at = now(), trace_id = %(trace_id)s
     WHERE run_id = %(run)s AND worker = %(worker)s AND status = 'running' RETURNING tenant, thread_id),
thread AS (
    UPDATE steward.threads SET updated_at = now(), state_values = coalesce(%(values)s, state_values),
           trace_parent = coalesce(trace_parent, %(traceparent)s),
           interrupts = CASE WHEN %(refused)s THEN interrupts ELSE %(interrupts)s END,
           error = CASE WHEN %(refused)s THEN error ELSE %(error)s END,
           status = CASE WHEN EXISTS (SELECT 1 FROM steward.runs WHERE tenant = %(tenant)s AND thread_id = %(thread)s
                                        AND run_id <> %(run)s AND status IN ('pending', 'running')) THEN 'busy'
                         WHEN NOT %(refused)s THEN %(thread_status)s
                         WHEN interrupts <> '{}' THEN 'interrupted' WHEN error IS NOT NULL THEN 'error'
                         ELSE 'idle' END
     WHERE (tenant, thread_id) = (SELECT tenant, thread_id FROM done) RETURNING thread_id),
queued AS (
    INSERT INTO steward.escalations (tenant, workflow, thread_id, run_id, outcome, reason_code, reason)
    SELECT %(tenant)s, %(workflow)s, thread_id, %(run)s, %(esc_outcome)s, %(esc_code)s, %(esc_reason)s
      FROM done WHERE %(escalate)s ON CONFLICT (run_id) DO NOTHING),
notified AS (
    INSERT INTO steward.outbox (tenant, event, url, payload)
    SELECT %(tenant)s, hook.event, hook.url, %(payloads)s::jsonb -> hook.event
      FROM (SELECT 'run.ended' AS event, %(webhook)s::text AS url WHERE %(webhook)s::text IS NOT NULL
            UNION ALL
            SELECT e.event, w.url FROM steward.webhooks w, unnest(%(events)s::text[]) AS e(event)
             WHERE w.tenant = %(tenant)s AND e.event = ANY(w.events)) hook
     WHERE EXISTS (SELECT 1 FROM done))
SELECT pg_notify(%(channel)s, %(note)s) FROM thread
"""


async def finish(
    pool: Pool,
    run: Run,
    worker: str,
    *,
    status: RunStatus,
    error: str | None,
    outcome: dict[str, Any] | None,
    values: dict[str, Any] | None,
    interrupts: dict[str, Any],
    refused: bool = False,
    trace_id: str | None = None,
    traceparent: str | None = None,
) -> bool:
    """Record the end of a run, refresh its thread and notify waiters, in one statement; False if the run
    was no longer ours (its lease lapsed and another worker took it). A ``refused`` run (turned away before its
    graph ran, e.g. a queued duplicate) leaves the thread's state, interrupts and error as they were. A run that
    ended escalated (or failed, or was denied in a way people should see) joins the escalation queue in the same
    statement."""
    queue = None if refused else escalations.for_queue(status, error, outcome)
    ended = run.model_copy(update={"status": status, "error": error, "outcome": outcome, "trace_id": trace_id})
    payloads: dict[str, Any] = {"run.ended": ended.public()}
    if interrupts and not refused:
        payloads["approval.requested"] = {
            "thread_id": run.thread_id,
            "workflow": run.workflow,
            "interrupts": pending_interrupts(interrupts),
        }
    if queue is not None:
        payloads["escalation.opened"] = {
            "thread_id": run.thread_id,
            "run_id": run.run_id,
            "workflow": run.workflow,
            "outcome": queue[0],
            "reason_code": queue[1],
            "reason": queue[2],
        }
    async with pool.connection() as conn:
        cur = await conn.execute(
            _FINISH,
            {
                "status": status,
                "error": error,
                "outcome": Jsonb(outcome) if outcome else None,
                "run": run.run_id,
                "worker": worker,
                "values": Jsonb(values) if values is not None else None,
                "interrupts": Jsonb(interrupts),
                "thread": run.thread_id,
                "channel": CHANNEL,
                "refused": refused,
                "thread_status": "interrupted" if interrupts else "error" if status == "error" else "idle",
                "note": f"done:{run.run_id}:{run.thread_id}",
                "tenant": run.tenant,
                "workflow": run.workflow,
                "escalate": queue is not None,
                "esc_outcome": queue[0] if queue else None,
                "esc_code": queue[1] if queue else None,
                "esc_reason": queue[2] if queue else None,
                "trace_id": trace_id,
                "traceparent": traceparent,
                "webhook": run.webhook,
                "events": list(payloads),
                "payloads": Jsonb(jsonable(payloads)),
            },
        )
        recorded = await cur.fetchone() is not None
    if recorded and queue is not None:
        metrics.ESCALATIONS.labels(run.workflow, queue[1]).inc()
    return recorded


async def trace_parent(pool: Pool, tenant: str, thread_id: str) -> str | None:
    """The ``traceparent`` of the span of the thread's first traced run (its resumes continue that trace)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT trace_parent FROM steward.threads WHERE tenant = %s AND thread_id = %s", (tenant, thread_id)
        )
        row = await cur.fetchone()
    return row["trace_parent"] if row else None


async def get(pool: Pool, thread_id: str, run_id: str, tenant: str) -> Run:
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {COLUMNS} FROM steward.runs WHERE run_id = %s AND thread_id = %s AND tenant = %s",
            (run_id, thread_id, tenant),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"unknown run {run_id!r} on thread {thread_id!r}")
    return Run.model_validate(row)


async def list_for_thread(
    pool: Pool,
    thread_id: str,
    tenant: str,
    *,
    limit: int = 10,
    offset: int = 0,
    status: str | None = None,
) -> list[Run]:
    await threads.get(pool, thread_id, tenant)
    status_filter = " AND status = %s" if status else ""
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {COLUMNS} FROM steward.runs WHERE tenant = %s AND thread_id = %s{status_filter}"
            " ORDER BY created_at DESC LIMIT %s OFFSET %s",
            (tenant, thread_id, *((status,) if status else ()), limit, offset),
        )
        return [Run.model_validate(row) for row in await cur.fetchall()]


async def cancel(pool: Pool, thread_id: str, run_id: str, tenant: str) -> Run:
    """Cancel a run: a pending one ends now (``interrupted``); a running one is told at once (its executor
    stops within a moment, or at its next lease renewal if it missed the notification)."""
    run = await get(pool, thread_id, run_id, tenant)
    if run.status in TERMINAL:
        raise Conflict(f"run {run_id} already ended ({run.status})")
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "UPDATE steward.runs SET cancel_requested = true, updated_at = now(),"
            " status = CASE WHEN status = 'pending' THEN 'interrupted' ELSE status END,"
            " error = CASE WHEN status = 'pending' THEN 'cancelled before it started' ELSE error END"
            " WHERE run_id = %s",
            (run_id,),
        )
        await conn.execute(
            "UPDATE steward.threads SET status = CASE WHEN EXISTS (SELECT 1 FROM steward.runs"
            " WHERE tenant = %(tenant)s AND thread_id = %(t)s AND status IN ('pending', 'running')) THEN 'busy'"
            " WHEN interrupts <> '{}' THEN 'interrupted' ELSE 'idle' END, updated_at = now()"
            " WHERE tenant = %(tenant)s AND thread_id = %(t)s",
            {"t": thread_id, "tenant": tenant},
        )
        note = f"done:{run_id}:{thread_id}" if run.status == "pending" else f"cancel:{run_id}"
        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, note))
    return await get(pool, thread_id, run_id, tenant)


async def delete(pool: Pool, thread_id: str, run_id: str, tenant: str) -> None:
    run = await get(pool, thread_id, run_id, tenant)
    if run.status in ACTIVE:
        raise Conflict(f"run {run_id} is {run.status}; cancel it first")
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM steward.runs WHERE run_id = %s", (run_id,))
