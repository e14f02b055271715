"""Replay a recorded run offline from its audit trail, and diff its decisions against the original's.

Tools answer from the recorded outputs, models from the recorded responses (unless ``live_model``), and the
approval pauses are resumed with the recorded decisions. The policy is the one pinned in the trail (its source
is kept by version) unless another file is given: that is how a rule change is tried on past runs. The replay
runs the graph on a scratch thread and writes nothing to the systems of record or the audit log.
"""

from __future__ import annotations

import difflib
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from langgraph.types import Command

from steward import audit, threads
from steward.budget import BudgetOverride
from steward.errors import InvalidRequest
from steward.services import Services, StewardContext
from steward.tape import Tape
from steward.verdict import Policy
from steward.workflow import Workflow
from tools.policy import load_policy, parse_policy

DECISION_TYPES = ("policy", "tool_call", "validator", "approval", "final")


def decision_lines(events: list[dict[str, Any]]) -> list[str]:
    """The decisions of a run, one line each (what a replay must reproduce)."""
    lines = []
    for e in events:
        if e["type"] not in DECISION_TYPES:
            continue
        parts = [e["step"], e["type"], e.get("tool") or "", e["status"], e.get("rule_id") or ""]
        lines.append("  ".join(p for p in parts if p))
    return lines


@dataclass
class ReplayReport:
    thread_id: str
    workflow: str
    policy_version: str
    original: list[str]
    replayed: list[str]
    drift: list[str] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return self.original != self.replayed

    def diff(self) -> list[tuple[str, str]]:
        """The decisions aligned step by step: (" ", line) same, ("-", line) original only, ("+", line) replay."""
        rows: list[tuple[str, str]] = []
        matcher = difflib.SequenceMatcher(a=self.original, b=self.replayed, autojunk=False)
        for op, a1, a2, b1, b2 in matcher.get_opcodes():
            if op == "equal":
                rows += [(" ", line) for line in self.original[a1:a2]]
            else:
                rows += [("-", line) for line in self.original[a1:a2]] + [("+", line) for line in self.replayed[b1:b2]]
        return rows

    def outcome(self, lines: list[str]) -> str:
        finals = [line for line in lines if "  final  " in line]
        return finals[-1].split("  final  ", 1)[1] if finals else "(did not finish)"


def _drift(events: list[dict[str, Any]], final: dict[str, Any], workflow: Workflow) -> list[str]:
    """Where today's code differs from the versions the run was recorded with."""
    found = []
    recorded = final["detail"].get("workflow_version")
    if recorded and recorded != workflow.version:
        found.append(f"workflow {workflow.name}: recorded {recorded}, now {workflow.version}")
    for tool, version in sorted({(e["tool"], e["tool_version"]) for e in events if e["tool_version"]}):
        if (spec := workflow.tool(tool)) is not None and spec.version != version:
            found.append(f"tool {tool}: recorded {version}, now {spec.version}")
    return found


async def pinned_policy(services: Services, workflow: str, events: list[dict[str, Any]]) -> Policy:
    """The policy the run was decided under (from its source stored by version)."""
    versions = [e["detail"].get("policy_version") for e in events if e["type"] == "policy"]
    if not versions:
        return services.policy(workflow)
    async with services.pool.connection() as conn:
        cur = await conn.execute("SELECT source FROM steward.policy_versions WHERE version = %s", (versions[0],))
        row = await cur.fetchone()
    if row is None:
        raise InvalidRequest(f"policy {versions[0]} of this run is not stored; replay it with --policy FILE")
    return parse_policy(row["source"].encode(), f"policy {versions[0]}")


async def replay(
    services: Services, thread_id: str, tenant: str, *, policy_file: Path | None = None, live_model: bool = False
) -> ReplayReport:
    """Re-execute a finished run offline and compare its decisions with the recorded ones."""
    thread = await threads.get(services.pool, thread_id, tenant)
    events = await audit.events_for(services.pool, thread_id, tenant)
    finals = [e for e in events if e["type"] == "final"]
    if thread.workflow is None or not finals:
        raise InvalidRequest(f"thread {thread_id} has no finished run to replay")
    workflow = thread.workflow
    policy = load_policy(workflow, path=policy_file) if policy_file else await pinned_policy(services, workflow, events)
    view = services.with_policy(workflow, policy)
    tape = Tape(events, live_model=live_model)
    budget = thread.overrides.get("budget")
    context = StewardContext(
        tenant=tenant,
        thread_id=thread_id,
        user=events[0]["user_id"],
        services=view,
        tape=tape,
        budget=BudgetOverride.model_validate(budget) if budget else None,
        models=thread.overrides.get("models") or {},
    )
    scratch = f"replay-{uuid.uuid4()}"
    config = view.run_config(scratch, str(uuid.uuid4()))
    graph = view.graph(workflow)
    try:
        values = await graph.ainvoke(finals[0]["detail"]["input"], config, context=context)
        while "__interrupt__" in values:
            decision = tape.next_decision()
            if decision is None:  # the replay paused where the original did not: it would wait for a human
                tape.replayed.append(audit.AuditEvent(step="approval", type="approval", status="waiting"))
                break
            values = await graph.ainvoke(
                Command(resume=decision), config, context=replace(context, user=decision["decided_by"])
            )
    finally:
        await view.checkpointer.adelete_thread(scratch)
    replayed = decision_lines([e.model_dump(mode="json") for e in tape.replayed])
    return ReplayReport(
        thread_id=thread_id,
        workflow=workflow,
        policy_version=policy.version,
        original=decision_lines(events),
        replayed=replayed,
        drift=_drift(events, finals[-1], services.workflow(workflow)),
    )


async def finished_threads(services: Services, tenant: str, workflow: str | None, since: timedelta) -> list[str]:
    """Threads of ``tenant`` whose run finished within ``since`` (oldest first)."""
    async with services.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT e.thread_id FROM steward.audit_events e JOIN steward.threads t USING (thread_id)"
            " WHERE e.type = 'final' AND e.tenant = %s AND e.ts >= %s AND (%s::text IS NULL OR t.workflow = %s)"
            " GROUP BY e.thread_id ORDER BY min(e.ts)",
            (tenant, datetime.now(UTC) - since, workflow, workflow),
        )
        return [row["thread_id"] for row in await cur.fetchall()]
