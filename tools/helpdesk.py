"""Helpdesk system of record: customers and their tickets (``sandbox.customers``, ``sandbox.tickets``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from steward.contracts import READ_RETRY, ToolContext, fetch_one, tool_contract
from steward.sandbox import Record, SystemOfRecord, Table

Id = Annotated[str, Field(min_length=1, max_length=64)]


class CustomerRecord(Record):
    id: Id
    name: str = Field(min_length=1)
    email: str | None = None


class TicketRecord(Record):
    id: Id
    customer_id: str
    subject: str = Field(min_length=1)
    body: str
    status: str = "open"


HELPDESK = SystemOfRecord(
    name="helpdesk",
    tables=(Table("customers", CustomerRecord), Table("tickets", TicketRecord)),
    migrations=(
        """
        CREATE TABLE IF NOT EXISTS sandbox.customers (
            tenant text NOT NULL,
            id text NOT NULL,
            name text NOT NULL,
            email text,
            PRIMARY KEY (tenant, id)
        );
        CREATE TABLE IF NOT EXISTS sandbox.tickets (
            tenant text NOT NULL,
            id text NOT NULL,
            customer_id text NOT NULL,
            subject text NOT NULL,
            body text NOT NULL,
            status text NOT NULL DEFAULT 'open',
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant, id),
            FOREIGN KEY (tenant, customer_id) REFERENCES sandbox.customers (tenant, id)
        );
        """,
    ),
)


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
    """Read one helpdesk ticket (subject, body, customer and status) by its id."""
    return await fetch_one(
        ctx, "get_ticket", f"ticket {args.ticket_id!r}",
        "SELECT id, customer_id, subject, body, status FROM sandbox.tickets WHERE tenant = %s AND id = %s",
        (ctx.tenant, args.ticket_id))
