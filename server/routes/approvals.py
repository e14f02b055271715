"""Governance: the approvals waiting for a human in the caller's tenant, and deciding one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from server.deps import PrincipalDep, ServicesDep
from server.run_requests import detach
from server.schemas import DecisionBody, Limit, Offset
from steward import operations
from steward.errors import InvalidRequest
from steward.jsonable import dumps
from steward.notify import ANY_RUN

STREAM_RECHECK_S = 5.0
"""The stream re-reads the inbox at least this often (a wake-up may be missed; a decision never is for long)."""
STREAM_MIN_INTERVAL_S = 0.5
"""...and at most this often: any run's end wakes every stream, so a busy server would otherwise re-read each open
inbox for every run it finishes."""

router = APIRouter(prefix="/approvals", tags=["governance"])


@router.get("")
async def list_approvals(
    services: ServicesDep, caller: PrincipalDep, limit: Limit = 50, offset: Offset = 0
) -> list[dict[str, Any]]:
    """Pending approval requests of the caller's tenant, oldest first."""
    caller.require("approver")
    return await operations.pending_approvals(services, caller.tenant, limit=limit, offset=offset)


@router.get("/stream", response_class=EventSourceResponse)
async def stream_approvals(request: Request, services: ServicesDep, caller: PrincipalDep) -> EventSourceResponse:
    """Server-sent events: ``approvals`` with the tenant's pending requests (as ``GET /approvals``) now and each
    time they change, whichever process or person changed them (a heartbeat comment keeps proxies open)."""
    caller.require("approver")

    async def changes() -> AsyncIterator[dict[str, str]]:
        last: list[tuple[str, str, int]] | None = None
        while not await request.is_disconnected():
            async with services.notifier.watching(ANY_RUN) as woken:
                pending = await operations.pending_approvals(services, caller.tenant, limit=200)
                # what changes the inbox: requests arriving, decided, or gaining approvers (not their growing age)
                current = [(p["thread_id"], p["interrupt_id"], p["quorum"]["approved"]) for p in pending]
                if current != last:
                    yield {"event": "approvals", "data": dumps(pending).decode()}
                    last = current
                await asyncio.sleep(STREAM_MIN_INTERVAL_S)
                await woken.wait(STREAM_RECHECK_S)

    return EventSourceResponse(changes(), ping=15)


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
