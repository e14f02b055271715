"""Helpdesk system of record (sandbox schema ``sandbox.tickets``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tools.contract import READ_RETRY, ToolContext, fetch_one, tool_contract


class TicketQuery(BaseModel):
    ticket_id: str = Field(min_length=1, max_length=64, description="Helpdesk ticket id, e.g. T-1001")


class Ticket(BaseModel):
    id: str
    customer_id: str
    subject: str
    body: str
    status: str


@tool_contract(
    name="get_ticket",
    version="1.0.0",
    kind="read",
    scope="helpdesk:tickets:read",
    risk="low",
    owner="support-platform",
    output=Ticket,
    timeout_s=2.0,
    retry=READ_RETRY,
)
async def get_ticket(args: TicketQuery, ctx: ToolContext) -> dict[str, Any]:
    """Read one helpdesk ticket of the current tenant.

    Args:
        args: the ticket id.
        ctx: tenant-scoped access to the helpdesk.
    """
    return await fetch_one(
        ctx, "get_ticket", f"ticket {args.ticket_id!r}",
        "SELECT id, customer_id, subject, body, status FROM sandbox.tickets WHERE tenant = %s AND id = %s",
        (ctx.tenant, args.ticket_id))
