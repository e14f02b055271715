"""Governance: the approvals waiting for a human in the caller's tenant, and deciding one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from server.deps import PrincipalDep, ServicesDep
from server.run_requests import detach
from server.schemas import DecisionBody, Limit, Offset
from steward import operations, runs, threads
from steward.errors import InvalidRequest

router = APIRouter(prefix="/approvals", tags=["governance"])


def _summary(thread: threads.Thread) -> dict[str, Any]:
    pending = runs.pending_interrupts(thread.interrupts)
    request = pending[0]["value"]
    action = request["action_requests"][0]
    return {
        "thread_id": thread.thread_id,
        "workflow": thread.workflow,
        "interrupt_id": pending[0]["id"],
        "action": action["name"],
        "args": action["args"],
        "description": action.get("description"),
        "allowed_decisions": request["review_configs"][0]["allowed_decisions"],
        "rule_id": request["rule_id"],
        "risk": request["risk"],
        "reason": request["reason"],
        "requested_by": request["requested_by"],
        "owner": request.get("owner"),
        "quorum": {
            "required": request.get("approvers_required", 1),
            "approved_by": request.get("approved_by", []),
            "approved": len(request.get("approved_by", [])),
        },
        "waiting_since": thread.updated_at,
        "age_s": round((datetime.now(UTC) - thread.updated_at).total_seconds(), 1),
    }


@router.get("")
async def list_approvals(
    services: ServicesDep, caller: PrincipalDep, limit: Limit = 50, offset: Offset = 0
) -> list[dict[str, Any]]:
    """Pending approval requests of the caller's tenant, oldest first."""
    caller.require("approver")
    waiting = await threads.search(
        services.pool,
        caller.tenant,
        status="interrupted",
        limit=limit,
        offset=offset,
        sort_by="updated_at",
        sort_order="asc",
    )
    return [_summary(thread) for thread in waiting if thread.interrupts]


@router.post("/{thread_id}")
async def decide(
    thread_id: str, body: DecisionBody, request: Request, services: ServicesDep, caller: PrincipalDep
) -> dict[str, Any]:
    """Approve, edit or reject the pending request; the run resumes at once and the answer says how it ended.
    The caller's identity is the decider (recorded in the audit trail); a requester cannot approve their own run.
    """
    caller.require("approver")
    try:
        response = body.response()
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    result = await detach(
        request, operations.resume_run(services, thread_id, response, tenant=caller.tenant, user=caller.identity)
    )
    return result.model_dump(mode="json")
