"""Sandbox systems of record: load them from a JSON seed file and show them.

Seed format (all lists optional; ``tenant`` on a record overrides the file's default tenant)::

    {
      "tenant": "acme",
      "customers": [{"id": "C-1", "name": "Ada Lovelace", "email": "ada@example.com"}],
      "tickets":   [{"id": "T-1", "customer_id": "C-1", "subject": "...", "body": "...", "status": "open"}],
      "invoices":  [{"id": "INV-1001", "customer_id": "C-1", "amount_usd": "120.00", "status": "paid",
                     "issued_on": "2026-10-01"}],
      "refunds":   [{"id": "RF-OLD-1", "invoice_id": "INV-1001", "customer_id": "C-1", "ticket_id": "T-1",
                     "amount_usd": "20.00", "reason": "earlier goodwill refund"}],
      "faults":    [{"tool": "lookup_invoice", "mode": "timeout", "times": 1},
                    {"tool": "create_refund", "mode": "delay_after", "times": 1, "delay_ms": 3000}]
    }

Loading upserts by (tenant, id) in one transaction: a bad file changes nothing. ``reset`` first empties the
tenants the file names.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from steward.errors import InvalidRequest, parse_as
from tools.billing import Money, PositiveMoney

Id = str


class Record(BaseModel):
    model_config = {"extra": "forbid"}
    tenant: str | None = Field(default=None, min_length=1, max_length=64)


class Customer(Record):
    id: Id = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1)
    email: str | None = None


class TicketRecord(Record):
    id: Id = Field(min_length=1, max_length=64)
    customer_id: Id
    subject: str = Field(min_length=1)
    body: str
    status: str = "open"


class InvoiceRecord(Record):
    id: Id = Field(min_length=1, max_length=64)
    customer_id: Id
    amount_usd: Money = Field(ge=0)
    status: str = "paid"
    issued_on: dt.date | None = None


class RefundRecord(Record):
    id: Id = Field(min_length=1, max_length=64)
    invoice_id: Id
    customer_id: Id
    ticket_id: Id | None = None
    amount_usd: PositiveMoney
    reason: str = "seeded refund"


class Fault(Record):
    tool: str
    mode: Literal["timeout", "error", "invalid_output", "delay", "delay_after"]
    times: int = Field(default=1, ge=0)
    delay_ms: int = Field(default=0, ge=0, le=600_000)


class Seed(BaseModel):
    """A seed file (see the module docstring)."""

    model_config = {"extra": "forbid"}
    tenant: str = Field(default="default", min_length=1, max_length=64)
    customers: list[Customer] = Field(default_factory=list)
    tickets: list[TicketRecord] = Field(default_factory=list)
    invoices: list[InvoiceRecord] = Field(default_factory=list)
    refunds: list[RefundRecord] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)

    def tenants(self) -> set[str]:
        records = [*self.customers, *self.tickets, *self.invoices, *self.refunds, *self.faults]
        return {self.tenant} | {r.tenant for r in records if r.tenant}


def read_seed(path: Path) -> Seed:
    """Parse and validate a seed file; errors name the file and the bad field."""
    try:
        return parse_seed(json.loads(path.read_text()))
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{path} is not valid JSON: {exc}") from None


def parse_seed(data: Any) -> Seed:
    return parse_as(Seed, data, "seed does not match the sandbox format")


_UPSERTS = {
    "customers": ("INSERT INTO sandbox.customers (tenant, id, name, email) VALUES (%s, %s, %s, %s)"
                  " ON CONFLICT (tenant, id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email",
                  ("id", "name", "email")),
    "tickets": ("INSERT INTO sandbox.tickets (tenant, id, customer_id, subject, body, status)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tenant, id) DO UPDATE SET"
                " customer_id = EXCLUDED.customer_id, subject = EXCLUDED.subject, body = EXCLUDED.body,"
                " status = EXCLUDED.status", ("id", "customer_id", "subject", "body", "status")),
    "invoices": ("INSERT INTO sandbox.invoices (tenant, id, customer_id, amount_usd, status, issued_on)"
                 " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tenant, id) DO UPDATE SET"
                 " customer_id = EXCLUDED.customer_id, amount_usd = EXCLUDED.amount_usd,"
                 " status = EXCLUDED.status, issued_on = EXCLUDED.issued_on",
                 ("id", "customer_id", "amount_usd", "status", "issued_on")),
    "refunds": ("INSERT INTO sandbox.refunds (tenant, id, invoice_id, customer_id, ticket_id, amount_usd, reason,"
                " idempotency_key) VALUES (%s, %s, %s, %s, %s, %s, %s, 'seed:' || %s)"
                " ON CONFLICT (tenant, id) DO NOTHING",
                ("id", "invoice_id", "customer_id", "ticket_id", "amount_usd", "reason", "id")),
    "faults": ("INSERT INTO sandbox.faults (tenant, tool, mode, remaining, delay_ms) VALUES (%s, %s, %s, %s, %s)"
               " ON CONFLICT (tenant, tool) DO UPDATE SET mode = EXCLUDED.mode, remaining = EXCLUDED.remaining,"
               " delay_ms = EXCLUDED.delay_ms", ("tool", "mode", "times", "delay_ms")),
}
TABLES = ("customers", "tickets", "invoices", "refunds", "faults")


async def load(pool: AsyncConnectionPool, seed: Seed, *, reset: bool = False) -> dict[str, int]:
    """Write a seed in one transaction; returns the number of records per table."""
    counts: dict[str, int] = {}
    try:
        async with pool.connection() as conn, conn.transaction():
            if reset:
                for table in reversed(TABLES):
                    await conn.execute(f"DELETE FROM sandbox.{table} WHERE tenant = ANY(%s)", (list(seed.tenants()),))
            for table in TABLES:
                sql, fields = _UPSERTS[table]
                records = getattr(seed, table)
                rows = [(r.tenant or seed.tenant, *(getattr(r, f) for f in fields)) for r in records]
                if rows:
                    async with conn.cursor() as cur:
                        await cur.executemany(sql, rows)
                counts[table] = len(rows)
    except psycopg.errors.IntegrityError as exc:
        detail = exc.diag.message_detail or exc.diag.message_primary
        raise InvalidRequest(f"seed refers to records that do not exist: {detail}") from None
    return counts


async def show(pool: AsyncConnectionPool, tenant: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every sandbox record (of one tenant, if given), table by table."""
    result: dict[str, list[dict[str, Any]]] = {}
    async with pool.connection() as conn:
        for table in TABLES:
            where = " WHERE tenant = %s" if tenant else ""
            cur = await conn.execute(f"SELECT * FROM sandbox.{table}{where} ORDER BY 1, 2", (tenant,) if tenant else ())
            result[table] = await cur.fetchall()
    return result
