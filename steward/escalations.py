"""The escalation queue: the human fallback lane runs degrade into.

A run lands here when it ends ``escalated`` (validation failures, budget hits, expired approvals, model and tool
errors), when it is denied by a control or by a rule that says the agent misbehaved (a tool outside its
allowlist), or when it fails outright. The row is written in the same statement that records the run's end, so
no escalated run is missing from the queue. People ``take`` an item (it is assigned to them), add notes and
``close`` it with a resolution. The queue is per tenant, oldest first, paged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from psycopg.types.json import Jsonb
from pydantic import BaseModel, computed_field

from steward.errors import Conflict, NotFound
from steward.pool import Pool, trusted

Status = Literal["open", "taken", "closed"]
DENIALS_FOR_PEOPLE = frozenset(
    {"control.kill_switch", "policy.unknown_tool", "policy.tool_not_allowed", "policy.evaluation_error"}
)
"""Denials a person should see: an operator stopped the write, or the agent reached for a tool it may not use."""
COLUMNS = (
    "id, tenant, workflow, thread_id, run_id, outcome, reason_code, reason, status, assignee, notes, resolution,"
    " closed_by, closed_at, created_at, updated_at"
)


class Note(BaseModel):
    by: str
    text: str
    at: datetime


class Escalation(BaseModel):
    id: int
    tenant: str
    workflow: str
    thread_id: str
    run_id: str
    outcome: str
    """``escalated``, ``denied`` or ``error`` (the run failed)."""
    reason_code: str
    reason: str
    status: Status
    assignee: str | None
    notes: list[Note]
    resolution: str | None
    closed_by: str | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def age_s(self) -> float:
        """Seconds since the run was handed to people (until the item is closed)."""
        end = self.closed_at or datetime.now(UTC)
        return round((end - self.created_at).total_seconds(), 1)


def for_queue(status: str, error: str | None, outcome: dict[str, Any] | None) -> tuple[str, str, str] | None:
    """``(outcome, reason_code, reason)`` if a run that ended like this belongs in the queue, else None."""
    if status == "error" and error:
        return "error", "run.error", error[:2000]
    if not outcome:
        return None
    code = outcome.get("reason_code", "")
    if outcome.get("status") == "escalated" or (outcome.get("status") == "denied" and code in DENIALS_FOR_PEOPLE):
        return outcome["status"], code, outcome.get("reason", "")
    return None


async def page(
    pool: Pool, tenant: str, *, status: Status | None = None, limit: int = 20, offset: int = 0
) -> list[Escalation]:
    """The tenant's queue, oldest first (``status`` None: everything not closed)."""
    where = "status = %(status)s" if status else "status <> 'closed'"
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {COLUMNS} FROM steward.escalations WHERE tenant = %(tenant)s AND {where}"
            " ORDER BY created_at, id LIMIT %(limit)s OFFSET %(offset)s",
            {"tenant": tenant, "status": status, "limit": limit, "offset": offset},
        )
        return [Escalation.model_validate(row) for row in await cur.fetchall()]


async def get(pool: Pool, tenant: str, escalation_id: int) -> Escalation:
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {COLUMNS} FROM steward.escalations WHERE id = %s AND tenant = %s", (escalation_id, tenant)
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no escalation {escalation_id} in tenant {tenant!r}")
    return Escalation.model_validate(row)


async def _change(pool: Pool, tenant: str, escalation_id: int, assignment: str, params: dict[str, Any]) -> Escalation:
    """Apply ``assignment`` to an escalation that is not closed; a closed one is a Conflict."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            trusted(
                f"UPDATE steward.escalations SET {assignment}, updated_at = now()"
                f" WHERE id = %(id)s AND tenant = %(tenant)s AND status <> 'closed' RETURNING {COLUMNS}"
            ),
            {"id": escalation_id, "tenant": tenant, **params},
        )
        row = await cur.fetchone()
    if row is None:
        current = await get(pool, tenant, escalation_id)  # NotFound if it is not the tenant's
        raise Conflict(f"escalation {escalation_id} was closed by {current.closed_by}: {current.resolution}")
    return Escalation.model_validate(row)


async def take(pool: Pool, tenant: str, escalation_id: int, by: str) -> Escalation:
    """Assign an open (or taken) escalation to ``by``."""
    return await _change(pool, tenant, escalation_id, "status = 'taken', assignee = %(by)s", {"by": by})


async def add_note(pool: Pool, tenant: str, escalation_id: int, by: str, text: str) -> Escalation:
    note = Jsonb([{"by": by, "text": text, "at": datetime.now().astimezone().isoformat()}])
    return await _change(pool, tenant, escalation_id, "notes = notes || %(note)s", {"note": note})


async def close(pool: Pool, tenant: str, escalation_id: int, by: str, resolution: str) -> Escalation:
    return await _change(
        pool,
        tenant,
        escalation_id,
        "status = 'closed', resolution = %(resolution)s, closed_by = %(by)s, closed_at = now(),"
        " assignee = coalesce(assignee, %(by)s)",
        {"by": by, "resolution": resolution},
    )
