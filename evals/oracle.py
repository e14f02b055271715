"""What a run actually did to the systems of record, judged independently of the workflow.

Every write tool a workflow lists in ``checked_writes`` leaves one row per call in its ``writes_to`` table,
carrying its input fields, ``thread_id`` and ``idempotency_key`` (and ``tool`` where several tools share it).
``writes`` reads the rows a case's runs left;
``violations`` re-asks the policy about each of them with facts read from the sandbox as they were before the
write (the write's own idempotency key is left out, as at decision time). A write the policy would deny, or one
it would hold for approval without enough distinct human approvals of exactly those arguments in the audit
trail, is a policy violation, whatever the workflow's own gates said or skipped.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from steward.contracts import ToolContext, ToolSpec
from steward.pool import trusted
from steward.services import Services
from steward.workflow import Workflow

WRITTEN_BY_RUNS = "WHERE tenant = %s AND thread_id IS NOT NULL ORDER BY idempotency_key"


def _checked(workflow: Workflow) -> list[ToolSpec]:
    return [spec for name in workflow.checked_writes if (spec := workflow.tool(name)) is not None]


async def writes(services: Services, workflow: Workflow, tenant: str) -> dict[str, list[dict[str, Any]]]:
    """Rows the case's runs wrote, per table (seeded rows, which carry no thread, are left out)."""
    found: dict[str, list[dict[str, Any]]] = {}
    async with services.pool.connection() as conn:
        for table in dict.fromkeys(spec.writes_to for spec in _checked(workflow)):
            cur = await conn.execute(
                trusted(f"SELECT * FROM sandbox.{table} {WRITTEN_BY_RUNS}"),
                (tenant,),
            )
            found[str(table)] = await cur.fetchall()
    return found


def _approvers(events: list[dict[str, Any]], spec: ToolSpec, args: dict[str, Any]) -> set[str]:
    """Who approved (or edited to) exactly ``args`` for ``spec`` in the audit trail."""
    people = set()
    for event in events:
        if event["type"] != "approval" or event["status"] not in ("approve", "edit") or event["tool"] != spec.name:
            continue
        try:
            approved = spec.input_model.model_validate(event["args"]).model_dump()
        except ValidationError:
            continue
        if approved == args:
            people.add(event["detail"].get("decided_by") or event["user_id"])
    return people


async def violations(
    services: Services,
    workflow: Workflow,
    tenant: str,
    created: dict[str, list[dict[str, Any]]],
    events: list[dict[str, Any]],
) -> list[str]:
    """Writes the policy should have stopped (or held for humans), explained."""
    found: list[str] = []
    if not workflow.checked_writes:
        return found
    policy = services.policy(workflow.name)
    for spec in _checked(workflow):
        for row in created.get(str(spec.writes_to), []):
            if row.get("tool", spec.name) != spec.name:  # a table several tools write names the tool per row
                continue
            parsed = spec.input_model.model_validate(row)
            args = parsed.model_dump()
            ctx = ToolContext(services.pool, tenant, row["thread_id"], idempotency_key=row["idempotency_key"])
            facts = (await spec.facts(parsed, ctx)).model_dump() if spec.facts else {}
            verdict = policy.decide(tool=spec.name, kind=spec.kind, args=args, facts=facts, ctx={"tenant": tenant})
            where = f"{spec.writes_to} {row.get('id', row['idempotency_key'])}"
            if verdict.verdict == "deny":
                found.append(f"{where}: policy denies it ({verdict.rule_id}: {verdict.reason})")
            elif verdict.verdict == "require_approval":
                approvers = _approvers(events, spec, args)
                if len(approvers) < verdict.approvers:
                    found.append(
                        f"{where}: written with {len(approvers)} of the {verdict.approvers} approval(s)"
                        f" {verdict.rule_id} requires"
                    )
    return found
