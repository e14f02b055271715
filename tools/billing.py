"""Billing system of record (sandbox schema: ``sandbox.invoices``, ``sandbox.refunds``).

The system of record enforces what a real billing API would: a refund never exceeds the invoice's
unrefunded balance, and an idempotency key is used once; replaying it returns the original refund.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import psycopg
from pydantic import BaseModel, Field, model_validator

from steward.contracts import READ_RETRY, MaxCap, ToolContext, fetch_one, tool_contract
from steward.pool import one
from steward.sandbox import Record, SystemOfRecord, Table
from steward.tool_errors import IdempotencyConflict, RecordNotFound, ToolInputError
from tools.guards import injection_markers

Money = Annotated[Decimal, Field(max_digits=12, decimal_places=2)]
PositiveMoney = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]
REFUND_CAP_USD = Decimal("1000.00")


class InvoiceRecord(Record):
    id: str = Field(min_length=1, max_length=64)
    customer_id: str
    amount_usd: Money = Field(ge=0)
    status: str = "paid"
    issued_on: dt.date | None = None


class RefundRecord(Record):
    """A refund issued before the sandbox was loaded (its idempotency key is ``seed:<id>``)."""

    id: str = Field(min_length=1, max_length=64)
    invoice_id: str
    customer_id: str
    ticket_id: str | None = None
    amount_usd: PositiveMoney
    reason: str = "seeded refund"
    idempotency_key: str | None = None

    @model_validator(mode="after")
    def _seed_key(self) -> RefundRecord:
        self.idempotency_key = self.idempotency_key or f"seed:{self.id}"
        return self


BILLING = SystemOfRecord(
    name="billing",
    tables=(Table("invoices", InvoiceRecord), Table("refunds", RefundRecord, on_conflict="ignore")),
    migrations=(
        """
        CREATE TABLE IF NOT EXISTS sandbox.invoices (
            tenant text NOT NULL,
            id text NOT NULL,
            customer_id text NOT NULL,
            amount_usd numeric(12, 2) NOT NULL CHECK (amount_usd >= 0),
            status text NOT NULL DEFAULT 'paid',
            issued_on date,
            PRIMARY KEY (tenant, id),
            FOREIGN KEY (tenant, customer_id) REFERENCES sandbox.customers (tenant, id)
        );
        CREATE SEQUENCE IF NOT EXISTS sandbox.refund_seq;
        CREATE TABLE IF NOT EXISTS sandbox.refunds (
            tenant text NOT NULL,
            id text NOT NULL DEFAULT 'RF-' || lpad(nextval('sandbox.refund_seq')::text, 6, '0'),
            invoice_id text NOT NULL,
            customer_id text NOT NULL,
            ticket_id text,
            amount_usd numeric(12, 2) NOT NULL CHECK (amount_usd > 0),
            reason text NOT NULL,
            idempotency_key text NOT NULL,
            thread_id text,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant, id),
            UNIQUE (tenant, idempotency_key),
            FOREIGN KEY (tenant, invoice_id) REFERENCES sandbox.invoices (tenant, id)
        );
        """,
    ),
)
"""Billing needs the helpdesk's customers: declare it after :data:`tools.helpdesk.HELPDESK`."""


class InvoiceQuery(BaseModel):
    invoice_id: str = Field(min_length=1, max_length=64, description="Invoice id, e.g. INV-1001")


class Invoice(BaseModel):
    id: str
    customer_id: str
    amount_usd: Money
    refunded_usd: Money
    status: str

    @property
    def balance_usd(self) -> Decimal:
        """What can still be refunded."""
        return self.amount_usd - self.refunded_usd


class CreateRefundInput(BaseModel):
    invoice_id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    ticket_id: str = Field(min_length=1, max_length=64)
    amount_usd: PositiveMoney
    reason: str = Field(min_length=1, max_length=500)


class RefundQuery(BaseModel):
    refund_id: str = Field(min_length=1, max_length=64)


class Refund(BaseModel):
    id: str
    invoice_id: str
    customer_id: str
    ticket_id: str | None
    amount_usd: PositiveMoney
    reason: str
    idempotency_key: str
    created_at: datetime
    deduplicated: bool = False
    """True when this call replayed an idempotency key and returned the original refund."""


INVOICE_SQL = """
SELECT i.tenant, i.id, i.customer_id, i.amount_usd, i.status,
       (SELECT coalesce(sum(r.amount_usd), 0) FROM sandbox.refunds r
         WHERE r.tenant = i.tenant AND r.invoice_id = i.id
           AND r.idempotency_key IS DISTINCT FROM %(key)s) AS refunded_usd
  FROM sandbox.invoices i WHERE i.id = %(invoice_id)s
"""
FACTS_SQL = f"""
SELECT i.*, t.customer_id AS ticket_customer_id, t.body, t.refunded_usd AS ticket_refunded_usd
  FROM (SELECT 1) AS one
  LEFT JOIN ({INVOICE_SQL}) AS i ON true
  LEFT JOIN (SELECT t.customer_id, t.body,
                    (SELECT coalesce(sum(r.amount_usd), 0) FROM sandbox.refunds r
                      WHERE r.tenant = t.tenant AND r.ticket_id = t.id
                        AND r.idempotency_key IS DISTINCT FROM %(key)s) AS refunded_usd
               FROM sandbox.tickets t WHERE t.tenant = %(tenant)s AND t.id = %(ticket_id)s) AS t ON true
"""
"""The invoice in every tenant (none, or rows with ``tenant``) beside the ticket (its columns null if absent)."""
REFUND_COLUMNS = "id, invoice_id, customer_id, ticket_id, amount_usd, reason, idempotency_key, created_at"
REFUNDED_ON_INVOICE = (
    "SELECT coalesce(sum(amount_usd), 0) AS refunded FROM sandbox.refunds"
    " WHERE tenant = %(tenant)s AND invoice_id = %(invoice_id)s"
)
"""What an invoice has had refunded so far, under any key."""
INSERT_WITHIN_BALANCE = f"""
INSERT INTO sandbox.refunds (tenant, invoice_id, customer_id, ticket_id, amount_usd, reason, idempotency_key, thread_id)
SELECT %(tenant)s, %(invoice_id)s, %(customer_id)s, %(ticket_id)s, %(amount_usd)s, %(reason)s, %(key)s, %(thread_id)s
 WHERE %(amount_usd)s <= %(invoice_amount_usd)s - ({REFUNDED_ON_INVOICE})
RETURNING {REFUND_COLUMNS}"""
"""A refund, inserted only if it fits the invoice's unrefunded balance (no row returned: it does not)."""


@tool_contract(
    name="lookup_invoice",
    version="1.0.0",
    kind="read",
    scope="billing:invoices:read",
    risk="low",
    owner="billing-platform",
    output=Invoice,
    timeout_s=2.0,
    retry=READ_RETRY,
)
async def lookup_invoice(args: InvoiceQuery, ctx: ToolContext) -> dict[str, Any]:
    """Read an invoice (customer, amount, status) with the amount already refunded on it."""
    return await fetch_one(
        ctx,
        "lookup_invoice",
        f"invoice {args.invoice_id!r}",
        INVOICE_SQL + " AND i.tenant = %(tenant)s",
        {"invoice_id": args.invoice_id, "tenant": ctx.tenant, "key": None},
    )


class RefundFacts(BaseModel):
    """What the policy engine knows about a proposed refund (typed, so recorded facts replay exactly)."""

    invoice_found: bool
    invoice_in_other_tenant: bool
    invoice_customer_id: str | None
    invoice_amount_usd: Money | None
    unrefunded_balance_usd: Money | None
    ticket_found: bool
    ticket_customer_id: str | None
    ticket_refunded_usd: Money
    ticket_injection_markers: list[str]


async def refund_facts(args: CreateRefundInput, ctx: ToolContext) -> RefundFacts:
    """What billing and the helpdesk say about a proposed refund, for the policy engine.

    Refunds written under this call's own idempotency key are left out, so re-checking a write that
    already happened (crash, double resume) sees the same facts as the first check.
    """
    params = {
        "tenant": ctx.tenant,
        "invoice_id": args.invoice_id,
        "ticket_id": args.ticket_id,
        "key": ctx.idempotency_key,
    }
    async with ctx.pool.connection() as conn:
        rows = await (await conn.execute(FACTS_SQL, params)).fetchall()
    invoices = [row for row in rows if row["tenant"] is not None]
    ticket = rows[0] if rows[0]["ticket_customer_id"] is not None else None
    own = next((row for row in invoices if row["tenant"] == ctx.tenant), None)
    return RefundFacts(
        invoice_found=own is not None,
        invoice_in_other_tenant=own is None and bool(invoices),
        invoice_customer_id=own["customer_id"] if own else None,
        invoice_amount_usd=own["amount_usd"] if own else None,
        unrefunded_balance_usd=own["amount_usd"] - own["refunded_usd"] if own else None,
        ticket_found=ticket is not None,
        ticket_customer_id=ticket["ticket_customer_id"] if ticket else None,
        ticket_refunded_usd=ticket["ticket_refunded_usd"] if ticket else Decimal("0"),
        ticket_injection_markers=injection_markers(ticket["body"]) if ticket else [],
    )


@tool_contract(
    name="create_refund",
    version="1.0.0",
    kind="write",
    scope="billing:refunds:write",
    risk="high",
    owner="billing-platform",
    output=Refund,
    timeout_s=5.0,
    caps=(MaxCap(name="max_amount_usd", field="amount_usd", limit=REFUND_CAP_USD),),
    facts=refund_facts,
    writes_to="refunds",
)
async def create_refund(args: CreateRefundInput, ctx: ToolContext) -> dict[str, Any]:
    """Refund part or all of a paid invoice to the customer who paid it, for the ticket that asked."""
    if not ctx.idempotency_key:
        raise ToolInputError("create_refund", "a write needs an idempotency key")
    if args.amount_usd > REFUND_CAP_USD:  # the contract cap, checked again at the system of record
        raise ToolInputError("create_refund", f"amount {args.amount_usd} exceeds the cap {REFUND_CAP_USD}")
    async with ctx.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT customer_id, amount_usd FROM sandbox.invoices WHERE tenant = %s AND id = %s FOR UPDATE",
            (ctx.tenant, args.invoice_id),
        )
        invoice = await cur.fetchone()  # the row lock serialises refunds on one invoice
        if invoice is None:
            raise RecordNotFound("create_refund", f"no invoice {args.invoice_id!r}")
        cur = await conn.execute(
            f"SELECT {REFUND_COLUMNS} FROM sandbox.refunds WHERE tenant = %s AND idempotency_key = %s",
            (ctx.tenant, ctx.idempotency_key),
        )
        if (existing := await cur.fetchone()) is not None:
            same = (existing["invoice_id"], existing["amount_usd"]) == (args.invoice_id, args.amount_usd)
            if not same:
                raise IdempotencyConflict(
                    "create_refund",
                    f"key already used for refund {existing['id']} of {existing['amount_usd']}"
                    f" on {existing['invoice_id']}",
                )
            return {**existing, "deduplicated": True}
        if invoice["customer_id"] != args.customer_id:
            raise ToolInputError("create_refund", f"invoice {args.invoice_id} was not paid by {args.customer_id}")
        values = {
            "tenant": ctx.tenant,
            "invoice_id": args.invoice_id,
            "customer_id": args.customer_id,
            "ticket_id": args.ticket_id,
            "amount_usd": args.amount_usd,
            "reason": args.reason,
            "key": ctx.idempotency_key,
            "thread_id": ctx.thread_id,
            "invoice_amount_usd": invoice["amount_usd"],
        }
        try:  # a statement of its own, so it reads the refunds committed while it waited for the invoice's lock
            cur = await conn.execute(INSERT_WITHIN_BALANCE, values)
        except psycopg.errors.UniqueViolation:  # same key, concurrently, on another invoice
            raise IdempotencyConflict("create_refund", "key used concurrently for another refund") from None
        if (refund := await cur.fetchone()) is None:
            cur = await conn.execute(REFUNDED_ON_INVOICE, values)
            balance = invoice["amount_usd"] - (await one(cur))["refunded"]
            raise ToolInputError("create_refund", f"amount {args.amount_usd} exceeds the unrefunded balance {balance}")
        return refund


@tool_contract(
    name="get_refund",
    version="1.0.0",
    kind="read",
    scope="billing:refunds:read",
    risk="low",
    owner="billing-platform",
    output=Refund,
    timeout_s=2.0,
    retry=READ_RETRY,
)
async def get_refund(args: RefundQuery, ctx: ToolContext) -> dict[str, Any]:
    """Read one refund back from billing by its id."""
    return await fetch_one(
        ctx,
        "get_refund",
        f"refund {args.refund_id!r}",
        f"SELECT {REFUND_COLUMNS} FROM sandbox.refunds WHERE tenant = %s AND id = %s",
        (ctx.tenant, args.refund_id),
    )
