"""Helpdesk system of record: customers, their tickets, the queues tickets are routed to, and the routes and
replies agents wrote (``sandbox.customers``, ``tickets``, ``queues``, ``ticket_routes``, ``ticket_replies``)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from steward.contracts import READ_RETRY, ToolContext, fetch_one, tool_contract, write_once
from steward.sandbox import Record, SystemOfRecord, Table
from steward.tool_errors import RecordNotFound
from tools.guards import injection_markers

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
    queue: str | None = None
    priority: str | None = None


class QueueRecord(Record):
    id: Id
    name: str = Field(min_length=1)
    intents: list[str] = Field(default_factory=list)
    """The ticket intents this queue handles."""


HELPDESK = SystemOfRecord(
    name="helpdesk",
    tables=(Table("customers", CustomerRecord), Table("queues", QueueRecord), Table("tickets", TicketRecord)),
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
        """
        CREATE TABLE IF NOT EXISTS sandbox.queues (
            tenant text NOT NULL,
            id text NOT NULL,
            name text NOT NULL,
            intents jsonb NOT NULL DEFAULT '[]',
            PRIMARY KEY (tenant, id)
        );
        ALTER TABLE sandbox.tickets ADD COLUMN IF NOT EXISTS queue text, ADD COLUMN IF NOT EXISTS priority text;
        CREATE TABLE IF NOT EXISTS sandbox.ticket_routes (
            tenant text NOT NULL,
            id bigserial,
            ticket_id text NOT NULL,
            queue text NOT NULL,
            priority text NOT NULL,
            intent text NOT NULL,
            confidence numeric(4, 3) NOT NULL,
            thread_id text NOT NULL,
            idempotency_key text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant, id),
            UNIQUE (tenant, idempotency_key)
        );
        CREATE TABLE IF NOT EXISTS sandbox.ticket_replies (
            tenant text NOT NULL,
            id bigserial,
            ticket_id text NOT NULL,
            body text NOT NULL,
            citations jsonb NOT NULL,
            intent text NOT NULL,
            confidence numeric(4, 3) NOT NULL,
            thread_id text NOT NULL,
            idempotency_key text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant, id),
            UNIQUE (tenant, idempotency_key)
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
        ctx,
        "get_ticket",
        f"ticket {args.ticket_id!r}",
        "SELECT id, customer_id, subject, body, status FROM sandbox.tickets WHERE tenant = %s AND id = %s",
        (ctx.tenant, args.ticket_id),
    )


class CustomerQuery(BaseModel):
    customer_id: str = Field(min_length=1, max_length=64)


class Customer(BaseModel):
    id: str
    name: str
    email: str | None


@tool_contract(
    name="get_customer",
    version="1.0.0",
    kind="read",
    scope="helpdesk:customers:read",
    risk="low",
    owner="support-platform",
    output=Customer,
    timeout_s=2.0,
    retry=READ_RETRY,
)
async def get_customer(args: CustomerQuery, ctx: ToolContext) -> dict[str, Any]:
    """Read one customer (name and email) by id."""
    return await fetch_one(
        ctx,
        "get_customer",
        f"customer {args.customer_id!r}",
        "SELECT id, name, email FROM sandbox.customers WHERE tenant = %s AND id = %s",
        (ctx.tenant, args.customer_id),
    )


class NoArgs(BaseModel):
    pass


class Queue(BaseModel):
    id: str
    name: str
    intents: list[str]


class Queues(BaseModel):
    queues: list[Queue]


@tool_contract(
    name="list_queues",
    version="1.0.0",
    kind="read",
    scope="helpdesk:queues:read",
    risk="low",
    owner="support-platform",
    output=Queues,
    timeout_s=2.0,
    retry=READ_RETRY,
)
async def list_queues(args: NoArgs, ctx: ToolContext) -> dict[str, Any]:
    """List the support queues and the ticket intents each handles."""
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, name, intents FROM sandbox.queues WHERE tenant = %s ORDER BY id", (ctx.tenant,)
        )
        return {"queues": await cur.fetchall()}


Confidence = Annotated[Decimal, Field(ge=0, le=1, max_digits=4, decimal_places=3)]
Priority = Literal["P1", "P2", "P3", "P4"]


class RouteInput(BaseModel):
    ticket_id: Id
    queue: Id
    priority: Priority
    intent: str = Field(min_length=1, max_length=40)
    confidence: Confidence


class Route(BaseModel):
    id: int
    ticket_id: str
    queue: str
    priority: str
    deduplicated: bool = False


class RouteFacts(BaseModel):
    ticket_found: bool
    queue_exists: bool
    queue_intents: list[str]


async def route_facts(args: RouteInput, ctx: ToolContext) -> RouteFacts:
    """Whether the ticket and the queue exist, and what the queue handles."""
    async with ctx.pool.connection() as conn:
        ticket = await (
            await conn.execute(
                "SELECT 1 FROM sandbox.tickets WHERE tenant = %s AND id = %s", (ctx.tenant, args.ticket_id)
            )
        ).fetchone()
        queue = await (
            await conn.execute(
                "SELECT intents FROM sandbox.queues WHERE tenant = %s AND id = %s", (ctx.tenant, args.queue)
            )
        ).fetchone()
    return RouteFacts(
        ticket_found=ticket is not None, queue_exists=queue is not None, queue_intents=queue["intents"] if queue else []
    )


@tool_contract(
    name="apply_route",
    version="1.0.0",
    kind="write",
    scope="helpdesk:tickets:route",
    risk="low",
    owner="support-platform",
    output=Route,
    timeout_s=5.0,
    facts=route_facts,
    writes_to="ticket_routes",
)
async def apply_route(args: RouteInput, ctx: ToolContext) -> dict[str, Any]:
    """Put a ticket in a queue with a priority."""
    async with ctx.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "UPDATE sandbox.tickets SET queue = %s, priority = %s WHERE tenant = %s AND id = %s"
            " AND EXISTS (SELECT 1 FROM sandbox.queues WHERE tenant = %s AND id = %s)"
            " RETURNING id",
            (args.queue, args.priority, ctx.tenant, args.ticket_id, ctx.tenant, args.queue),
        )
        if await cur.fetchone() is None:
            raise RecordNotFound(
                "apply_route", f"no ticket {args.ticket_id!r} or queue {args.queue!r} in tenant {ctx.tenant!r}"
            )
        return await write_once(conn, ctx, "apply_route", "ticket_routes", args.model_dump())


class ReplyInput(BaseModel):
    ticket_id: Id
    body: str = Field(min_length=1, max_length=4000)
    citations: list[Id] = Field(default_factory=list, max_length=5)
    intent: str = Field(min_length=1, max_length=40)
    confidence: Confidence


class Reply(BaseModel):
    id: int
    ticket_id: str
    body: str
    citations: list[str]
    deduplicated: bool = False


class ReplyFacts(BaseModel):
    ticket_found: bool
    unknown_citations: list[str]
    """Cited article ids the knowledge base does not have."""
    foreign_customer_data: list[str]
    """Other customers' emails or names that appear in the reply."""
    ticket_injection_markers: list[str]
    reply_injection_markers: list[str]


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*")


async def reply_facts(args: ReplyInput, ctx: ToolContext) -> ReplyFacts:
    """What the helpdesk and the knowledge base say about a reply: its ticket, its citations, and whether it
    shows another customer's data (their name or email, or any email that is not the ticket customer's)."""
    async with ctx.pool.connection() as conn:
        ticket = await (
            await conn.execute(
                "SELECT customer_id, body FROM sandbox.tickets WHERE tenant = %s AND id = %s",
                (ctx.tenant, args.ticket_id),
            )
        ).fetchone()
        cur = await conn.execute(
            "SELECT id FROM sandbox.articles WHERE tenant = %s AND id = ANY(%s)", (ctx.tenant, args.citations)
        )
        known = {row["id"] for row in await cur.fetchall()}
        cur = await conn.execute("SELECT id, name, email FROM sandbox.customers WHERE tenant = %s", (ctx.tenant,))
        customers = await cur.fetchall()
    owner = ticket["customer_id"] if ticket else None
    text = args.body.lower()
    foreign = {
        value
        for row in customers
        if row["id"] != owner
        for value in (row["name"], row["email"])
        if value and len(value) > 3 and value.lower() in text
    }
    own_emails = {row["email"] for row in customers if row["id"] == owner}
    foreign |= {email for email in _EMAIL.findall(args.body) if email not in own_emails}
    return ReplyFacts(
        ticket_found=ticket is not None,
        unknown_citations=sorted(set(args.citations) - known),
        foreign_customer_data=sorted(foreign),
        ticket_injection_markers=injection_markers(ticket["body"]) if ticket else [],
        reply_injection_markers=injection_markers(args.body),
    )


@tool_contract(
    name="post_reply",
    version="1.0.0",
    kind="write",
    scope="helpdesk:tickets:reply",
    risk="medium",
    owner="support-platform",
    output=Reply,
    timeout_s=5.0,
    facts=reply_facts,
    writes_to="ticket_replies",
)
async def post_reply(args: ReplyInput, ctx: ToolContext) -> dict[str, Any]:
    """Post a customer-facing reply on a ticket, citing the knowledge-base articles it relies on."""
    async with ctx.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT 1 FROM sandbox.tickets WHERE tenant = %s AND id = %s FOR UPDATE", (ctx.tenant, args.ticket_id)
        )
        if await cur.fetchone() is None:
            raise RecordNotFound("post_reply", f"no ticket {args.ticket_id!r} in tenant {ctx.tenant!r}")
        return await write_once(conn, ctx, "post_reply", "ticket_replies", args.model_dump())
