"""CRM system of record: accounts, contacts, the people who may own accounts, and the change log every agent
edit leaves (``sandbox.accounts``, ``contacts``, ``crm_users``, ``change_log``).

Records carry a ``version``: an edit names the version it was based on and is refused if the record changed since
(optimistic concurrency), and an undo restores the previous values exactly only if nothing changed after the edit.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, Field, model_validator

from steward.contracts import READ_RETRY, ToolContext, tool_contract, write_once
from steward.sandbox import Record, SystemOfRecord, Table
from steward.tool_errors import RecordChanged, RecordNotFound, ToolInputError
from tools.guards import injection_markers

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
RecordType = Literal["account", "contact"]
FIELDS: dict[str, tuple[str, ...]] = {
    "account": ("owner", "stage", "amount_usd", "close_date", "phone", "address"),
    "contact": ("title", "phone", "email"),
}
"""The fields an agent may change, per record type."""
HIGH_RISK = ("owner", "stage", "amount_usd", "close_date")
"""Fields that move money or responsibility: changing one needs a human approval."""
Stage = Literal["prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"]
STAGES: tuple[str, ...] = get_args(Stage)


class AccountRecord(Record):
    id: Id
    name: str = Field(min_length=1)
    owner: str
    stage: Stage = "prospecting"
    amount_usd: Decimal = Field(default=Decimal("0"), ge=0, max_digits=14, decimal_places=2)
    close_date: dt.date | None = None
    phone: str | None = None
    address: str | None = None
    version: int = Field(default=1, ge=1)


class ContactRecord(Record):
    id: Id
    account_id: str
    name: str = Field(min_length=1)
    title: str | None = None
    phone: str | None = None
    email: str | None = None
    version: int = Field(default=1, ge=1)


class UserRecord(Record):
    id: Id
    name: str


class ChangeRecord(Record):
    """A change made before the sandbox was loaded (to test undo against it)."""

    id: int = Field(ge=1)
    tool: str = "apply_changes"
    record_type: RecordType
    record_id: str
    changes: dict[str, str | None]
    previous: dict[str, str | None]
    base_version: int
    new_version: int
    note: str = "seeded change"
    idempotency_key: str | None = None

    @model_validator(mode="after")
    def _seed_key(self) -> ChangeRecord:
        self.idempotency_key = self.idempotency_key or f"seed:{self.id}"
        return self


CRM = SystemOfRecord(
    name="crm",
    tables=(
        Table("crm_users", UserRecord),
        Table("accounts", AccountRecord),
        Table("contacts", ContactRecord),
        Table("change_log", ChangeRecord),
    ),
    migrations=(
        """
        CREATE TABLE IF NOT EXISTS sandbox.crm_users (
            tenant text NOT NULL, id text NOT NULL, name text NOT NULL, PRIMARY KEY (tenant, id)
        );
        CREATE TABLE IF NOT EXISTS sandbox.accounts (
            tenant text NOT NULL, id text NOT NULL, name text NOT NULL, owner text NOT NULL,
            stage text NOT NULL, amount_usd numeric(14, 2) NOT NULL DEFAULT 0, close_date date,
            phone text, address text, version integer NOT NULL DEFAULT 1,
            PRIMARY KEY (tenant, id)
        );
        CREATE TABLE IF NOT EXISTS sandbox.contacts (
            tenant text NOT NULL, id text NOT NULL, account_id text NOT NULL, name text NOT NULL,
            title text, phone text, email text, version integer NOT NULL DEFAULT 1,
            PRIMARY KEY (tenant, id), FOREIGN KEY (tenant, account_id) REFERENCES sandbox.accounts (tenant, id)
        );
        CREATE TABLE IF NOT EXISTS sandbox.change_log (
            tenant text NOT NULL, id bigserial, record_type text NOT NULL, record_id text NOT NULL,
            tool text NOT NULL, changes jsonb NOT NULL, previous jsonb NOT NULL,
            base_version integer NOT NULL, new_version integer NOT NULL,
            note text NOT NULL, approvers jsonb NOT NULL DEFAULT '[]', undoes bigint, undone_by bigint,
            run_id text, thread_id text, idempotency_key text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant, id), UNIQUE (tenant, idempotency_key)
        );
        """,
    ),
)

_TABLE = {"account": "accounts", "contact": "contacts"}
_COLUMNS = {
    "account": "id, name, owner, stage, amount_usd, close_date, phone, address, version",
    "contact": "id, account_id, name, title, phone, email, version",
}


class RecordQuery(BaseModel):
    record_type: RecordType
    record_id: Id


class CrmRecord(BaseModel):
    """An account or contact as the CRM holds it: its fields as strings, and its version."""

    record_type: RecordType
    id: str
    fields: dict[str, str | None]
    version: int


def _as_text(value: Any) -> str | None:
    return None if value is None else format(value, "f") if isinstance(value, Decimal) else str(value)


async def read_record(
    conn: Any, tenant: str, record_type: str, record_id: str, *, lock: bool = False
) -> dict[str, Any]:
    cur = await conn.execute(
        f"SELECT {_COLUMNS[record_type]} FROM sandbox.{_TABLE[record_type]}"
        f" WHERE tenant = %s AND id = %s{' FOR UPDATE' if lock else ''}",
        (tenant, record_id),
    )
    return await cur.fetchone()


@tool_contract(
    name="get_record",
    version="1.0.0",
    kind="read",
    scope="crm:records:read",
    risk="low",
    owner="sales-ops",
    output=CrmRecord,
    timeout_s=2.0,
    retry=READ_RETRY,
)
async def get_record(args: RecordQuery, ctx: ToolContext) -> dict[str, Any]:
    """Read one CRM account or contact with its current version."""
    async with ctx.pool.connection() as conn:
        row = await read_record(conn, ctx.tenant, args.record_type, args.record_id)
    if row is None:
        raise RecordNotFound("get_record", f"no {args.record_type} {args.record_id!r} in tenant {ctx.tenant!r}")
    version = row.pop("version")
    return {
        "record_type": args.record_type,
        "id": row.pop("id"),
        "version": version,
        "fields": {k: _as_text(v) for k, v in row.items()},
    }


class ChangeInput(BaseModel):
    record_type: RecordType
    record_id: Id
    changes: dict[str, str | None] = Field(min_length=1, max_length=10)
    """Field -> new value, as text (the CRM converts it to the field's type)."""
    base_version: int = Field(ge=1)
    """The version the change was made against: refused if the record changed since."""
    note: str = Field(min_length=1, max_length=2000)
    """The note that justifies the change (untrusted text, kept in the change log)."""


class Change(BaseModel):
    id: int
    record_type: str
    record_id: str
    changes: dict[str, str | None]
    """Field -> new value, as text."""
    previous: dict[str, str | None]
    """Field -> the value it replaced, as text (what an undo restores)."""
    base_version: int
    new_version: int
    approvers: list[str]
    undoes: int | None = None
    deduplicated: bool = False


class ChangeFacts(BaseModel):
    record_found: bool
    current_version: int | None
    unknown_fields: list[str]
    high_risk_fields: list[str]
    owner_known: bool
    """The new owner (if the owner changes) is a CRM user of this tenant."""
    note_injection_markers: list[str]


async def change_facts(args: ChangeInput, ctx: ToolContext) -> ChangeFacts:
    """What the CRM says about a proposed change: the record, which fields are risky or unknown, the owner."""
    async with ctx.pool.connection() as conn:
        row = await read_record(conn, ctx.tenant, args.record_type, args.record_id)
        owner = args.changes.get("owner")
        user = (
            owner
            and await (
                await conn.execute("SELECT 1 FROM sandbox.crm_users WHERE tenant = %s AND id = %s", (ctx.tenant, owner))
            ).fetchone()
        )
    allowed = FIELDS[args.record_type]
    return ChangeFacts(
        record_found=row is not None,
        current_version=row["version"] if row else None,
        unknown_fields=sorted(set(args.changes) - set(allowed)),
        high_risk_fields=sorted(set(args.changes) & set(HIGH_RISK)),
        owner_known="owner" not in args.changes or bool(user),
        note_injection_markers=injection_markers(args.note),
    )


async def apply_values(
    conn: Any, ctx: ToolContext, tool: str, record_type: str, record_id: str, new: dict[str, Any], base_version: int
) -> tuple[dict[str, str | None], int]:
    """Write ``new`` onto the record if it is still at ``base_version``; returns the values it replaced (as text)
    and the new version."""
    row = await read_record(conn, ctx.tenant, record_type, record_id, lock=True)
    if row is None:
        raise RecordNotFound(tool, f"no {record_type} {record_id!r} in tenant {ctx.tenant!r}")
    if row["version"] != base_version:
        raise RecordChanged(
            tool,
            f"{record_type} {record_id} is at version {row['version']}, not {base_version}:"
            " it changed since it was read",
        )
    sets = ", ".join(f"{field} = %s" for field in new)
    await conn.execute(
        f"UPDATE sandbox.{_TABLE[record_type]} SET {sets}, version = version + 1 WHERE tenant = %s AND id = %s",
        (*new.values(), ctx.tenant, record_id),
    )
    return {field: _as_text(row[field]) for field in new}, base_version + 1


def typed_changes(tool: str, record_type: str, changes: dict[str, str | None]) -> dict[str, Any]:
    """The changes converted to the fields' types (refused if a field is unknown or a value malformed)."""
    typed: dict[str, Any] = {}
    for field, value in changes.items():
        if field not in FIELDS[record_type]:
            raise ToolInputError(tool, f"{record_type}s have no changeable field {field!r}")
        try:
            typed[field] = (
                Decimal(value)
                if field == "amount_usd" and value is not None
                else dt.date.fromisoformat(value)
                if field == "close_date" and value is not None
                else value
            )
        except (ArithmeticError, ValueError):
            raise ToolInputError(tool, f"{field}={value!r} is not a valid value") from None
    return typed


@tool_contract(
    name="apply_changes",
    version="1.0.0",
    kind="write",
    scope="crm:records:write",
    risk="medium",
    owner="sales-ops",
    output=Change,
    timeout_s=5.0,
    facts=change_facts,
    writes_to="change_log",
)
async def apply_changes(args: ChangeInput, ctx: ToolContext) -> dict[str, Any]:
    """Change fields of one account or contact, recording old and new values in the change log."""
    typed = typed_changes("apply_changes", args.record_type, args.changes)
    async with ctx.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT * FROM sandbox.change_log WHERE tenant = %s AND idempotency_key = %s",
            (ctx.tenant, ctx.idempotency_key),
        )
        if (done := await cur.fetchone()) is not None:  # a replay of this very write: the change is in
            return {**done, "deduplicated": True}
        previous, version = await apply_values(
            conn, ctx, "apply_changes", args.record_type, args.record_id, typed, args.base_version
        )
        return await write_once(
            conn,
            ctx,
            "apply_changes",
            "change_log",
            {
                "tool": "apply_changes",
                **args.model_dump(),
                "previous": previous,
                "new_version": version,
                "approvers": list(ctx.approvers),
                "run_id": ctx.run_id,
            },
        )
