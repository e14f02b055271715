"""Undoing a CRM change exactly: read a change-log entry, and restore the values it replaced unless the record
changed since (the undo leaves its own change-log entry)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from steward.contracts import READ_RETRY, ToolContext, fetch_one, tool_contract, write_once
from steward.tool_errors import RecordChanged, RecordNotFound
from tools.crm import HIGH_RISK, Change, apply_values, read_record, typed_changes


class UndoInput(BaseModel):
    undoes: int = Field(ge=1, description="The id of the change-log entry to undo")
    note: str = Field(default="undo", min_length=1, max_length=2000)


class ChangeQuery(BaseModel):
    change_id: int = Field(ge=1)


@tool_contract(
    name="get_change",
    version="1.0.0",
    kind="read",
    scope="crm:changes:read",
    risk="low",
    owner="sales-ops",
    output=Change,
    timeout_s=2.0,
    retry=READ_RETRY,
)
async def get_change(args: ChangeQuery, ctx: ToolContext) -> dict[str, Any]:
    """Read one change-log entry (old and new values, versions, approvers)."""
    return await fetch_one(
        ctx,
        "get_change",
        f"change {args.change_id}",
        "SELECT * FROM sandbox.change_log WHERE tenant = %s AND id = %s",
        (ctx.tenant, args.change_id),
    )


class UndoFacts(BaseModel):
    change_found: bool
    already_undone: bool
    record_changed_since: bool
    """The record's version moved past the change's: undoing would overwrite a later edit."""
    high_risk_fields: list[str]


async def undo_facts(args: UndoInput, ctx: ToolContext) -> UndoFacts:
    """What the CRM says about undoing a change: whether it exists, was undone, or was overtaken. An undo this
    call's own idempotency key already wrote is left out, so re-checking it sees the facts it was decided on."""
    async with ctx.pool.connection() as conn:
        change = await (
            await conn.execute(
                "SELECT * FROM sandbox.change_log WHERE tenant = %s AND id = %s", (ctx.tenant, args.undoes)
            )
        ).fetchone()
        own = await (
            await conn.execute(
                "SELECT id FROM sandbox.change_log WHERE tenant = %s AND idempotency_key = %s",
                (ctx.tenant, ctx.idempotency_key),
            )
        ).fetchone()
        row = change and await read_record(conn, ctx.tenant, change["record_type"], change["record_id"])
    if change is None:
        return UndoFacts(change_found=False, already_undone=False, record_changed_since=False, high_risk_fields=[])
    return UndoFacts(
        change_found=True,
        already_undone=change["undone_by"] not in (None, own and own["id"]),
        record_changed_since=own is None and (row is None or row["version"] != change["new_version"]),
        high_risk_fields=sorted(set(change["changes"]) & set(HIGH_RISK)),
    )


@tool_contract(
    name="undo_change",
    version="1.0.0",
    kind="write",
    scope="crm:records:write",
    risk="medium",
    owner="sales-ops",
    output=Change,
    timeout_s=5.0,
    facts=undo_facts,
    writes_to="change_log",
)
async def undo_change(args: UndoInput, ctx: ToolContext) -> dict[str, Any]:
    """Restore the values a change replaced, exactly; refused if the record changed since that change."""
    async with ctx.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT * FROM sandbox.change_log WHERE tenant = %s AND idempotency_key = %s",
            (ctx.tenant, ctx.idempotency_key),
        )
        if (done := await cur.fetchone()) is not None:
            return {**done, "deduplicated": True}
        change = await (
            await conn.execute(
                "SELECT * FROM sandbox.change_log WHERE tenant = %s AND id = %s FOR UPDATE", (ctx.tenant, args.undoes)
            )
        ).fetchone()
        if change is None:
            raise RecordNotFound("undo_change", f"no change {args.undoes} in tenant {ctx.tenant!r}")
        if change["undone_by"]:
            raise RecordChanged("undo_change", f"change {args.undoes} was already undone by {change['undone_by']}")
        restored = change["previous"]
        previous, version = await apply_values(
            conn,
            ctx,
            "undo_change",
            change["record_type"],
            change["record_id"],
            typed_changes("undo_change", change["record_type"], restored),
            change["new_version"],
        )
        row = await write_once(
            conn,
            ctx,
            "undo_change",
            "change_log",
            {
                "tool": "undo_change",
                **args.model_dump(),
                "record_type": change["record_type"],
                "record_id": change["record_id"],
                "changes": restored,
                "previous": previous,
                "base_version": change["new_version"],
                "new_version": version,
                "approvers": list(ctx.approvers),
                "run_id": ctx.run_id,
            },
        )
        await conn.execute(
            "UPDATE sandbox.change_log SET undone_by = %s WHERE tenant = %s AND id = %s",
            (row["id"], ctx.tenant, args.undoes),
        )
        return row
