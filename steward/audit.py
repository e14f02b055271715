"""The audit log: one append-only row per governed action, enough to explain and replay a run.

Rows go to ``steward.audit_events`` (a trigger refuses UPDATE, DELETE and TRUNCATE). Emails and card-like
numbers are redacted from every free-text field (arguments, reason, details) before they are written.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from steward import tracing
from steward.jsonable import json_param, jsonable
from steward.pool import Pool, trusted

EventType = Literal["model_call", "tool_call", "policy", "validator", "approval", "final", "intent"]
"""``intent``: a write about to execute, recorded (and committed) before it runs; its ``tool_call`` follows."""

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*")
_CARD = re.compile(r"(?<!\d)\d(?:[ .-]?\d){12,18}(?!\d)")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _redact_text(text: str) -> str:
    text = _EMAIL.sub("[email]", text)

    def card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match[0])
        return "[card]" if _luhn_ok(digits) else match[0]

    return _CARD.sub(card, text)


def redact(value: Any) -> Any:
    """A copy of ``value`` with emails and card numbers (Luhn-valid) masked in every string."""
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


class AuditEvent(BaseModel):
    """One action of one step."""

    step: str
    type: EventType
    status: str
    tool: str | None = None
    tool_version: str | None = None
    args: dict[str, Any] | None = None
    decision: str | None = None
    rule_id: str | None = None
    reason: str | None = None
    latency_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: Decimal | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class AuditScope:
    """Who and where: stamped on every event of a step."""

    run_id: str | None
    thread_id: str
    tenant: str
    user: str
    workflow: str


COLUMNS = (
    "run_id, thread_id, tenant, user_id, workflow, step, type, tool, tool_version, args, status, decision,"
    " rule_id, reason, latency_ms, tokens_in, tokens_out, cost_usd, detail, trace_id"
)


TYPES = (
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "jsonb",
    "text",
    "text",
    "text",
    "text",
    "float8",
    "int",
    "int",
    "numeric",
    "jsonb",
    "text",
)


def _field(index: int, sql_type: str) -> str:
    """Column ``index`` of a row sent as a JSON array (``r``), as ``sql_type`` (JSON null as SQL NULL)."""
    if sql_type == "jsonb":
        return f"nullif(r -> {index}, 'null')"
    return f"r ->> {index}" if sql_type == "text" else f"(r ->> {index})::{sql_type}"


INSERT = f"""INSERT INTO steward.audit_events ({COLUMNS})
SELECT {", ".join(_field(i, t) for i, t in enumerate(TYPES))} FROM jsonb_array_elements(%b) AS e(r)"""
"""Many events in one statement: their rows as one JSON array (:func:`steward.jsonable.json_param`)."""
PENDING: ContextVar[list[tuple[Any, ...]] | None] = ContextVar("steward_pending_audit", default=None)
"""A run's audit rows not yet written: the executor sets a list per run and the checkpointer writes them with the
run's held checkpoints at its next durable point (atomic with them: a step replayed after a crash records its
events once; see :mod:`steward.checkpoint`). Unset (e.g. ``langgraph dev``), events are written at once."""


def rows(scope: AuditScope, events: list[AuditEvent]) -> list[tuple[Any, ...]]:
    """Events as table rows (redacted, with the current trace id)."""
    trace_id = tracing.trace_id()
    return [
        (
            scope.run_id,
            scope.thread_id,
            scope.tenant,
            scope.user,
            scope.workflow,
            e.step,
            e.type,
            e.tool,
            e.tool_version,
            redact(jsonable(e.args)) if e.args is not None else None,
            e.status,
            e.decision,
            e.rule_id,
            redact(e.reason),
            e.latency_ms,
            e.tokens_in,
            e.tokens_out,
            e.cost_usd,
            redact(jsonable(e.detail)),
            trace_id,
        )
        for e in events
    ]


async def append(pool: Pool, scope: AuditScope, events: list[AuditEvent]) -> None:
    """Append events in one statement."""
    if events:
        async with pool.connection() as conn:
            await conn.execute(trusted(INSERT), (json_param(rows(scope, events)),))


def record(scope: AuditScope, events: list[AuditEvent]) -> bool:
    """Hold events for the run's next checkpoint write (True), or say there is no run buffer (False)."""
    pending = PENDING.get()
    if pending is None:
        return False
    pending.extend(rows(scope, events))
    return True


async def events_for(pool: Pool, thread_id: str, tenant: str) -> list[dict[str, Any]]:
    """A thread's events in order, as JSON-ready dicts (thread ids are per tenant)."""
    query = f"SELECT id, ts, {COLUMNS} FROM steward.audit_events WHERE tenant = %s AND thread_id = %s ORDER BY id"
    async with pool.connection() as conn:
        cur = await conn.execute(query, (tenant, thread_id))
        rows = await cur.fetchall()
    for row in rows:
        row["tokens"] = (row["tokens_in"] or 0) + (row["tokens_out"] or 0) if row["tokens_in"] is not None else None
    return jsonable(rows)
