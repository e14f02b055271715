"""Governance: the approvals waiting for a human in the caller's tenant, and deciding one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from server.deps import PrincipalDep, ServicesDep
from server.run_requests import detach
from server.schemas import DecisionBody, Limit, Offset
from steward import operations
from steward.errors import InvalidRequest

router = APIRouter(prefix="/approvals", tags=["governance"])


@router.get("")
async def list_approvals(
    services: ServicesDep, caller: PrincipalDep, limit: Limit = 50, offset: Offset = 0
) -> list[dict[str, Any]]:
    """Pending approval requests of the caller's tenant, oldest first."""
    caller.require("approver")
    return await operations.pending_approvals(services, caller.tenant, limit=limit, offset=offset)


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
