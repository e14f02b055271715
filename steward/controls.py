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
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Literal

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field

from steward.errors import NotFound

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


class Switchboard:
    """The switches and modes in force, read from Postgres at most every :data:`CACHE_S` seconds."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self._switches: list[KillSwitch] = []
        self._modes: list[ModeSetting] = []
        self._read_at = float("-inf")

    async def _refresh(self) -> None:
        if time.monotonic() - self._read_at > CACHE_S:
            self._switches, self._modes = await list_switches(self.pool), await list_modes(self.pool)
            self._read_at = time.monotonic()

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


async def list_modes(pool: AsyncConnectionPool, tenant: str | None = None) -> list[ModeSetting]:
    """Mode settings in force (those that reach ``tenant``, if given)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT tenant, workflow, mode, set_by, set_at FROM steward.modes"
            " WHERE %(t)s::text IS NULL OR tenant IN (%(t)s, '*') ORDER BY workflow, tenant",
            {"t": tenant},
        )
        return [ModeSetting.model_validate(row) for row in await cur.fetchall()]


async def set_mode(pool: AsyncConnectionPool, setting: ModeSetting) -> ModeSetting:
    """Set a workflow's mode for a tenant (or ``*``: every tenant without its own setting)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO steward.modes (tenant, workflow, mode, set_by) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (tenant, workflow) DO UPDATE SET mode = EXCLUDED.mode, set_by = EXCLUDED.set_by,"
            " set_at = now() RETURNING tenant, workflow, mode, set_by, set_at",
            (setting.tenant, setting.workflow, setting.mode, setting.set_by),
        )
        return ModeSetting.model_validate(await cur.fetchone())


async def list_switches(pool: AsyncConnectionPool, tenant: str | None = None) -> list[KillSwitch]:
    """Switches in force (those that reach ``tenant``, if given: its own and the all-tenant ones)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT tenant, workflow, tool, reason, set_by, set_at FROM steward.kill_switches"
            " WHERE %(t)s::text IS NULL OR tenant IN (%(t)s, '*') ORDER BY set_at",
            {"t": tenant},
        )
        return [KillSwitch.model_validate(row) for row in await cur.fetchall()]


async def set_switch(pool: AsyncConnectionPool, switch: KillSwitch) -> KillSwitch:
    """Turn a switch on (again: its reason and setter are replaced)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO steward.kill_switches (tenant, workflow, tool, reason, set_by) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (tenant, workflow, tool) DO UPDATE SET reason = EXCLUDED.reason, set_by = EXCLUDED.set_by,"
            " set_at = now() RETURNING tenant, workflow, tool, reason, set_by, set_at",
            (switch.tenant, switch.workflow, switch.tool, switch.reason, switch.set_by),
        )
        return KillSwitch.model_validate(await cur.fetchone())


async def clear_switch(pool: AsyncConnectionPool, tenant: str, workflow: str, tool: str) -> None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM steward.kill_switches WHERE tenant = %s AND workflow = %s AND tool = %s RETURNING 1",
            (tenant, workflow, tool),
        )
        if await cur.fetchone() is None:
            raise NotFound(f"no kill switch for tenant={tenant} workflow={workflow} tool={tool}")
