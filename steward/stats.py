"""Cost and outcomes per tenant and workflow over a time window: what ``GET /stats`` and ``steward stats`` show.

A *case* is a thread (one case per thread) created in the window; its outcome is the thread's. Latency is that of
runs in the window that ended ``success`` (queueing included, waiting for people excluded: a resume is its own
run). Cost is the model cost the audit trail recorded in the window.

Agreement: in ``suggest`` mode every write the policy would have allowed is held for a person, so each decision
on a ``mode.suggest`` request says whether people agree with the autopilot: ``suggest_agreement_rate`` is the share
approved as proposed. Shadow-mode cases report the verdicts the agent would have acted on
(``shadow_verdicts``), to be set beside what people decided in the process shadow mode watched.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from steward.errors import InvalidRequest
from steward.pool import Pool


def parse_window(text: str) -> timedelta:
    """``7d``, ``12h`` or ``30m`` as a duration (an InvalidRequest otherwise)."""
    match = re.fullmatch(r"(\d{1,6})([dhm])", text.strip())
    if not match:
        raise InvalidRequest(f"since must be a window like 7d, 12h or 30m, got {text!r}")
    return timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[match[2]]: int(match[1])})


def window_start(text: str) -> datetime:
    return datetime.now(UTC) - parse_window(text)


_CASES = """
SELECT workflow, count(*) AS cases,
       count(*) FILTER (WHERE state_values -> 'outcome' ->> 'status' = 'completed') AS completed,
       count(*) FILTER (WHERE state_values -> 'outcome' ->> 'status' = 'escalated') AS escalated,
       count(*) FILTER (WHERE state_values -> 'outcome' ->> 'status' = 'denied') AS denied,
       count(*) FILTER (WHERE state_values -> 'outcome' ->> 'status' = 'rejected') AS rejected,
       count(*) FILTER (WHERE state_values -> 'outcome' ->> 'status' = 'shadowed') AS shadowed,
       count(*) FILTER (WHERE status = 'interrupted') AS waiting,
       count(*) FILTER (WHERE status = 'error') AS failed
  FROM steward.threads
 WHERE tenant = %(tenant)s AND workflow IS NOT NULL AND created_at >= %(since)s
   AND (%(workflow)s::text IS NULL OR workflow = %(workflow)s)
 GROUP BY workflow
"""
_EVENTS = """
SELECT workflow,
       coalesce(sum(cost_usd), 0) AS cost_usd,
       count(*) FILTER (WHERE type = 'tool_call' AND status <> 'rate_limited') AS tool_calls,
       count(*) FILTER (WHERE type = 'approval' AND status = 'approve') AS approved,
       count(*) FILTER (WHERE type = 'approval' AND status = 'edit') AS edited,
       count(*) FILTER (WHERE type = 'approval' AND status = 'reject') AS rejected,
       count(*) FILTER (WHERE type = 'approval' AND status = 'expired') AS expired,
       count(*) FILTER (WHERE type = 'approval' AND rule_id = 'mode.suggest'
                          AND status IN ('approve', 'edit', 'reject'))
           AS suggest_decisions,
       count(*) FILTER (WHERE type = 'approval' AND rule_id = 'mode.suggest' AND status = 'approve') AS suggest_agreed,
       count(*) FILTER (WHERE type = 'final' AND status = 'shadowed') AS shadow_cases
  FROM steward.audit_events
 WHERE tenant = %(tenant)s AND ts >= %(since)s AND (%(workflow)s::text IS NULL OR workflow = %(workflow)s)
 GROUP BY workflow
"""
_SHADOW = """
SELECT workflow, decision, count(*) AS n FROM steward.audit_events
 WHERE tenant = %(tenant)s AND ts >= %(since)s AND (%(workflow)s::text IS NULL OR workflow = %(workflow)s)
   AND type = 'policy' AND detail ->> 'mode' = 'shadow' AND decision IS NOT NULL AND tool = ANY(%(writes)s)
 GROUP BY 1, 2
"""
_LATENCY = """
SELECT workflow,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at)) AS p50_s,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at)) AS p95_s
  FROM steward.runs
 WHERE tenant = %(tenant)s AND created_at >= %(since)s AND status = 'success'
   AND (%(workflow)s::text IS NULL OR workflow = %(workflow)s)
 GROUP BY workflow
"""
_PENDING = """
SELECT workflow, count(*) AS pending, extract(epoch FROM now() - min(updated_at)) AS oldest_s
  FROM steward.threads WHERE tenant = %(tenant)s AND status = 'interrupted'
   AND (%(workflow)s::text IS NULL OR workflow = %(workflow)s)
 GROUP BY workflow
"""


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def for_tenant(
    pool: Pool,
    tenant: str,
    since: datetime,
    workflow: str | None = None,
    writes: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """One row per workflow with cases in the window (or approvals waiting), sorted by workflow. ``writes``: the
    write tools (their shadow-mode verdicts are counted)."""
    params = {"tenant": tenant, "since": since, "workflow": workflow}
    async with pool.connection() as conn:
        cases = {r["workflow"]: r for r in await (await conn.execute(_CASES, params)).fetchall()}
        events = {r["workflow"]: r for r in await (await conn.execute(_EVENTS, params)).fetchall()}
        shadow_rows = await (await conn.execute(_SHADOW, {**params, "writes": sorted(writes)})).fetchall()
        latency = {r["workflow"]: r for r in await (await conn.execute(_LATENCY, params)).fetchall()}
        pending = {r["workflow"]: r for r in await (await conn.execute(_PENDING, params)).fetchall()}
    shadow: dict[str, dict[str, int]] = {}
    for row in shadow_rows:
        shadow.setdefault(row["workflow"], {})[row["decision"]] = row["n"]
    rows = []
    for name in sorted({*cases, *pending}):
        c = cases.get(name) or dict.fromkeys(
            ("cases", "completed", "escalated", "denied", "rejected", "shadowed", "waiting", "failed"), 0
        )
        e = events.get(name) or {}
        ended = c["cases"] - c["waiting"]
        cost = Decimal(e.get("cost_usd") or 0)
        rows.append(
            {
                "workflow": name,
                "cases": c["cases"],
                "outcomes": {k: c[k] for k in ("completed", "escalated", "denied", "rejected", "shadowed", "failed")},
                "waiting": c["waiting"],
                "completion_rate": _rate(c["completed"], ended),
                "escalation_rate": _rate(c["escalated"], ended),
                "cost_usd": str(cost),
                "cost_per_completed_usd": str(round(cost / c["completed"], 6)) if c["completed"] else None,
                "tool_calls_per_case": round(e.get("tool_calls", 0) / c["cases"], 2) if c["cases"] else None,
                "latency_p50_s": _round(latency.get(name, {}).get("p50_s")),
                "latency_p95_s": _round(latency.get(name, {}).get("p95_s")),
                "approvals": {k: e.get(k, 0) for k in ("approved", "edited", "rejected", "expired")},
                "approvals_pending": (pending.get(name) or {}).get("pending", 0),
                "oldest_pending_s": _round((pending.get(name) or {}).get("oldest_s")),
                "suggest_agreement_rate": _rate(e.get("suggest_agreed", 0), e.get("suggest_decisions", 0)),
                "shadow_verdicts": shadow.get(name, {}),
            }
        )
    return rows


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)
