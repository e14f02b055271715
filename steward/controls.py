"""Operator controls: kill switches and operating modes, in Postgres, read through a short cache.

Kill switches: an operator takes autonomy back in seconds, for everything, a tenant, a workflow or a tool.

A switch names a tenant, a workflow and a tool, each possibly ``*`` (all): ``(*, *, *)`` stops every write
everywhere, ``(acme, *, *)`` one tenant's, ``(*, refund, *)`` one workflow's (it also refuses new runs), ``(*, *,
create_refund)`` one tool's. A write is checked when it is about to execute (so runs in flight and runs resumed
after approval stop too) and the denial is audited with the switch that fired. Switches live in Postgres; each
process reads them through a cache of at most :data:`CACHE_S` seconds, so a change reaches every process within
a second.

Modes: a workflow runs in the mode its declaration names unless an operator set another, for every tenant
(``*``) or for one (the tenant's wins). ``shadow`` makes every write a dry run: the verdict it would get is
recorded and the run ends ``shadowed``; ``suggest`` holds every write for a human; ``autopilot`` lets the policy
decide. The mode is read when a write is gated and again when it is about to execute, so moving a workflow to
``shadow`` also stops the writes of runs already waiting for approval.

Spend caps: USD per UTC day for a tenant (workflow ``*``) or one of its workflows, counted from the model cost the
audit trail records. A tenant at its cap gets new runs refused (429) and runs in flight escalate with
``control.spend_cap`` before their next step. Spend is read at most every :data:`CACHE_S` seconds per tenant and
workflow, and only where a cap is set.
"""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from steward import webhooks
from steward.errors import NotFound
from steward.pool import Pool, one

ALL = "*"
CACHE_S = 1.0
Name = Field(default=ALL, min_length=1, max_length=64, pattern=r"^(\*|[A-Za-z0-9._-]+)$")


class KillSwitch(BaseModel):
    tenant: str = Name
    workflow: str = Name
    tool: str = Name
    reason: str = Field(min_length=1, max_length=500)
    set_by: str = "operator"
    set_at: datetime | None = None

    def covers(self, tenant: str, workflow: str, tool: str) -> bool:
        return all(
            mine in (ALL, theirs)
            for mine, theirs in ((self.tenant, tenant), (self.workflow, workflow), (self.tool, tool))
        )

    def describe(self) -> str:
        parts = [
            f"{k}={v}"
            for k, v in (("tenant", self.tenant), ("workflow", self.workflow), ("tool", self.tool))
            if v != ALL
        ]
        return f"kill switch [{', '.join(parts) or 'everything'}] set by {self.set_by}: {self.reason}"


class ModeSetting(BaseModel):
    tenant: str = Name
    workflow: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    mode: Literal["autopilot", "suggest", "shadow"]
    set_by: str = "operator"
    set_at: datetime | None = None


class SpendCap(BaseModel):
    tenant: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    workflow: str = Name
    usd_per_day: Decimal = Field(ge=0, max_digits=14, decimal_places=4)
    set_by: str = "operator"
    set_at: datetime | None = None

    def describe(self, spent: Decimal) -> str:
        scope = f"tenant {self.tenant}" + (f", workflow {self.workflow}" if self.workflow != ALL else "")
        return (
            f"daily spend cap of {self.usd_per_day} USD reached for {scope} ({spent:.4f} USD spent today, UTC;"
            f" set by {self.set_by})"
        )


class Switchboard:
    """The switches, modes and spend caps in force, read from Postgres at most every :data:`CACHE_S` seconds."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self._switches: list[KillSwitch] = []
        self._modes: list[ModeSetting] = []
        self._caps: list[SpendCap] = []
        self._spent: dict[tuple[str, str], tuple[float, Decimal]] = {}
        self._read_at = float("-inf")

    async def _refresh(self) -> None:
        if time.monotonic() - self._read_at > CACHE_S:
            self._switches, self._modes = await list_switches(self.pool), await list_modes(self.pool)
            self._caps = await list_caps(self.pool)
            self._read_at = time.monotonic()

    async def cap_reached(self, tenant: str, workflow: str) -> str | None:
        """Why ``tenant`` may spend no more on ``workflow`` today (its cap or the workflow's is reached), or None."""
        await self._refresh()
        for cap in self._caps:
            if cap.tenant == tenant and cap.workflow in (ALL, workflow):
                spent = await self._spent_today(tenant, cap.workflow)
                if spent >= cap.usd_per_day:
                    return cap.describe(spent)
        return None

    async def _spent_today(self, tenant: str, workflow: str) -> Decimal:
        read_at, spent = self._spent.get((tenant, workflow), (float("-inf"), Decimal(0)))
        if time.monotonic() - read_at > CACHE_S:
            spent = await spent_today(self.pool, tenant, None if workflow == ALL else workflow)
            self._spent[(tenant, workflow)] = (time.monotonic(), spent)
        return spent

    async def switches(self) -> list[KillSwitch]:
        await self._refresh()
        return self._switches

    async def mode(self, tenant: str, workflow: str, declared: str) -> str:
        """The mode in force: the tenant's setting, else the all-tenant one, else the declared mode."""
        await self._refresh()
        settings = {m.tenant: m.mode for m in self._modes if m.workflow == workflow}
        return settings.get(tenant) or settings.get(ALL) or declared

    async def fired(self, tenant: str, workflow: str, tool: str = ALL) -> KillSwitch | None:
        """The switch that stops ``tool`` (``*``: the workflow itself) for this tenant and workflow, if any."""
        for switch in await self.switches():
            if switch.covers(tenant, workflow, tool) and (tool != ALL or switch.tool == ALL):
                return switch
        return None


async def list_modes(pool: Pool, tenant: str | None = None) -> list[ModeSetting]:
    """Mode settings in force (those that reach ``tenant``, if given)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT tenant, workflow, mode, set_by, set_at FROM steward.modes"
            " WHERE %(t)s::text IS NULL OR tenant IN (%(t)s, '*') ORDER BY workflow, tenant",
            {"t": tenant},
        )
        return [ModeSetting.model_validate(row) for row in await cur.fetchall()]


async def set_mode(pool: Pool, setting: ModeSetting) -> ModeSetting:
    """Set a workflow's mode for a tenant (or ``*``: every tenant without its own setting)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO steward.modes (tenant, workflow, mode, set_by) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (tenant, workflow) DO UPDATE SET mode = EXCLUDED.mode, set_by = EXCLUDED.set_by,"
            " set_at = now() RETURNING tenant, workflow, mode, set_by, set_at",
            (setting.tenant, setting.workflow, setting.mode, setting.set_by),
        )
        return ModeSetting.model_validate(await cur.fetchone())


async def list_switches(pool: Pool, tenant: str | None = None) -> list[KillSwitch]:
    """Switches in force (those that reach ``tenant``, if given: its own and the all-tenant ones)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT tenant, workflow, tool, reason, set_by, set_at FROM steward.kill_switches"
            " WHERE %(t)s::text IS NULL OR tenant IN (%(t)s, '*') ORDER BY set_at",
            {"t": tenant},
        )
        return [KillSwitch.model_validate(row) for row in await cur.fetchall()]


async def set_switch(pool: Pool, switch: KillSwitch) -> KillSwitch:
    """Turn a switch on (again: its reason and setter are replaced); the tenant's (every tenant's, for ``*``)
    webhook endpoints hear of it."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "INSERT INTO steward.kill_switches (tenant, workflow, tool, reason, set_by) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (tenant, workflow, tool) DO UPDATE SET reason = EXCLUDED.reason, set_by = EXCLUDED.set_by,"
            " set_at = now() RETURNING tenant, workflow, tool, reason, set_by, set_at",
            (switch.tenant, switch.workflow, switch.tool, switch.reason, switch.set_by),
        )
        stored = KillSwitch.model_validate(await one(cur))
        await webhooks.enqueue(
            conn, stored.tenant, "kill_switch.changed", {"change": "set", **stored.model_dump(mode="json")}
        )
        return stored


async def clear_switch(pool: Pool, tenant: str, workflow: str, tool: str) -> None:
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "DELETE FROM steward.kill_switches WHERE tenant = %s AND workflow = %s AND tool = %s RETURNING 1",
            (tenant, workflow, tool),
        )
        if await cur.fetchone() is None:
            raise NotFound(f"no kill switch for tenant={tenant} workflow={workflow} tool={tool}")
        change = {"change": "cleared", "tenant": tenant, "workflow": workflow, "tool": tool}
        await webhooks.enqueue(conn, tenant, "kill_switch.changed", change)


async def spent_today(pool: Pool, tenant: str, workflow: str | None = None) -> Decimal:
    """Model cost recorded for ``tenant`` (and ``workflow``) since midnight UTC."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT coalesce(sum(cost_usd), 0) AS spent FROM steward.audit_events WHERE tenant = %(t)s"
            " AND type = 'model_call' AND ts >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
            " AND (%(w)s::text IS NULL OR workflow = %(w)s)",
            {"t": tenant, "w": workflow},
        )
        return (await one(cur))["spent"]


async def list_caps(pool: Pool, tenant: str | None = None) -> list[SpendCap]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT tenant, workflow, usd_per_day, set_by, set_at FROM steward.spend_caps"
            " WHERE %(t)s::text IS NULL OR tenant = %(t)s ORDER BY tenant, workflow",
            {"t": tenant},
        )
        return [SpendCap.model_validate(row) for row in await cur.fetchall()]


async def set_cap(pool: Pool, cap: SpendCap) -> SpendCap:
    """Set a tenant's daily cap (for all its workflows, or one)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO steward.spend_caps (tenant, workflow, usd_per_day, set_by) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (tenant, workflow) DO UPDATE SET usd_per_day = EXCLUDED.usd_per_day,"
            " set_by = EXCLUDED.set_by, set_at = now() RETURNING tenant, workflow, usd_per_day, set_by, set_at",
            (cap.tenant, cap.workflow, cap.usd_per_day, cap.set_by),
        )
        return SpendCap.model_validate(await cur.fetchone())


async def clear_cap(pool: Pool, tenant: str, workflow: str) -> None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM steward.spend_caps WHERE tenant = %s AND workflow = %s RETURNING 1", (tenant, workflow)
        )
        if await cur.fetchone() is None:
            raise NotFound(f"no spend cap for tenant={tenant} workflow={workflow}")
