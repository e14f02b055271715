"""The escalation queue of the caller's tenant: runs handed to people, to take, annotate and close."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from server.deps import PrincipalDep, ServicesDep
from server.schemas import EscalationClose, EscalationNote, Limit, Offset
from steward import audit, escalations

router = APIRouter(prefix="/escalations", tags=["governance"])


@router.get("")
async def list_escalations(
    services: ServicesDep,
    caller: PrincipalDep,
    status: escalations.Status | None = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """The queue, oldest first: every item not closed, or those with ``status``."""
    caller.require("approver")
    items = await escalations.page(services.pool, caller.tenant, status=status, limit=limit, offset=offset)
    return [item.model_dump(mode="json") for item in items]


@router.get("/{escalation_id}")
async def get_escalation(escalation_id: int, services: ServicesDep, caller: PrincipalDep) -> dict[str, Any]:
    """One item with its run's audit trail."""
    caller.require("approver")
    item = await escalations.get(services.pool, caller.tenant, escalation_id)
    trail = await audit.events_for(services.pool, item.thread_id, caller.tenant)
    return {**item.model_dump(mode="json"), "audit": trail}


@router.post("/{escalation_id}/take")
async def take(escalation_id: int, services: ServicesDep, caller: PrincipalDep) -> dict[str, Any]:
    """Assign the item to the caller."""
    caller.require("approver")
    return (await escalations.take(services.pool, caller.tenant, escalation_id, caller.identity)).model_dump(
        mode="json"
    )


@router.post("/{escalation_id}/notes")
async def add_note(
    escalation_id: int, body: EscalationNote, services: ServicesDep, caller: PrincipalDep
) -> dict[str, Any]:
    caller.require("approver")
    item = await escalations.add_note(services.pool, caller.tenant, escalation_id, caller.identity, body.text)
    return item.model_dump(mode="json")


@router.post("/{escalation_id}/close")
async def close(
    escalation_id: int, body: EscalationClose, services: ServicesDep, caller: PrincipalDep
) -> dict[str, Any]:
    """Close the item with what was done."""
    caller.require("approver")
    item = await escalations.close(services.pool, caller.tenant, escalation_id, caller.identity, body.resolution)
    return item.model_dump(mode="json")
