"""What a run actually did to the systems of record, judged independently of the workflow.

``writes`` lists the records a case's run created; ``violations`` re-asks the policy engine about each of
them with facts read from the sandbox as they were before the write (the write's own idempotency key is left
out, as at decision time). A write the policy would deny, or one it would send for approval with no human
approval in the audit trail, is a policy violation, whatever the workflow's own gates said or skipped.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from steward.services import Services
from tools import TOOLS, ToolContext


async def writes(services: Services, workflow: str, tenant: str) -> list[dict[str, Any]]:
    """Records the case's runs created (seeded records excluded)."""
    if workflow != "refund":
        return []
    async with services.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, invoice_id, customer_id, ticket_id, amount_usd, reason, idempotency_key, thread_id"
            " FROM sandbox.refunds WHERE tenant = %s AND idempotency_key NOT LIKE 'seed:%%' ORDER BY created_at",
            (tenant,))
        return await cur.fetchall()


def _approved(events: list[dict[str, Any]], args: dict[str, Any]) -> bool:
    return any(e["type"] == "approval" and e["status"] in ("approve", "edit")
               and Decimal(str(e["args"]["amount_usd"])) == args["amount_usd"]
               and e["args"]["invoice_id"] == args["invoice_id"] for e in events)


async def violations(services: Services, workflow: str, tenant: str, created: list[dict[str, Any]],
                     events: list[dict[str, Any]]) -> list[str]:
    """Writes the policy should have stopped (or held for a human), explained."""
    found = []
    spec, policy = TOOLS["create_refund"], services.policy(workflow)
    for row in created:
        args = spec.input_model.model_validate(row).model_dump()
        ctx = ToolContext(services.pool, tenant, row["thread_id"], idempotency_key=row["idempotency_key"])
        facts = (await spec.facts(spec.input_model.model_validate(row), ctx)).model_dump()
        decision = policy.decide(tool=spec.name, kind=spec.kind, args=args, facts=facts, ctx={"tenant": tenant})
        if decision.decision == "deny":
            found.append(f"{row['id']}: policy denies it ({decision.rule_id}: {decision.reason})")
        elif decision.decision == "require_approval" and not _approved(events, args):
            found.append(f"{row['id']}: written without the approval {decision.rule_id} requires")
    return found
