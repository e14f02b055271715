"""Operator controls of the caller's tenant, for admins: operating modes, kill switches and spend caps."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from server.deps import PrincipalDep, ServicesDep
from server.schemas import KillSwitchSet, ModeSet, SpendCapSet
from steward import controls
from steward.controls import ALL, KillSwitch, ModeSetting, SpendCap

router = APIRouter(prefix="/controls", tags=["governance"])


@router.put("/modes/{workflow}")
async def set_mode(workflow: str, body: ModeSet, services: ServicesDep, caller: PrincipalDep) -> dict[str, Any]:
    """Set the tenant's operating mode of a workflow (it applies to every gate from now on)."""
    caller.require("admin")
    services.workflow(workflow)
    setting = ModeSetting(tenant=caller.tenant, workflow=workflow, mode=body.mode, set_by=caller.identity)
    return (await controls.set_mode(services.pool, setting)).model_dump(mode="json")


@router.get("/modes")
async def list_modes(services: ServicesDep, caller: PrincipalDep) -> list[dict[str, Any]]:
    """Each workflow's mode in force for the tenant, with the declared one and who set the one in force, when."""
    caller.require("admin")
    settings = await controls.list_modes(services.pool, caller.tenant)
    rows = []
    for name, wf in services.catalog.items():
        mine = {m.tenant: m for m in settings if m.workflow == name}
        setting = mine.get(caller.tenant) or mine.get(ALL)
        rows.append(
            {
                "workflow": name,
                "declared": wf.mode,
                "mode": setting.mode if setting else wf.mode,
                "set_by": setting.set_by if setting else None,
                "set_at": setting.set_at.isoformat() if setting and setting.set_at else None,
            }
        )
    return rows


@router.get("/kill-switches")
async def list_switches(services: ServicesDep, caller: PrincipalDep) -> list[dict[str, Any]]:
    """The switches that reach the tenant: its own and those an operator set for every tenant."""
    caller.require("admin")
    return [s.model_dump(mode="json") for s in await controls.list_switches(services.pool, caller.tenant)]


@router.post("/kill-switches", status_code=201)
async def set_switch(body: KillSwitchSet, services: ServicesDep, caller: PrincipalDep) -> dict[str, Any]:
    """Stop the tenant's writes: all, one workflow's (which also refuses new runs) or one tool's. Every process
    applies it within a second."""
    caller.require("admin")
    if body.workflow != ALL:
        services.workflow(body.workflow)
    switch = KillSwitch(
        tenant=caller.tenant, workflow=body.workflow, tool=body.tool, reason=body.reason, set_by=caller.identity
    )
    return (await controls.set_switch(services.pool, switch)).model_dump(mode="json")


@router.delete("/kill-switches")
async def clear_switch(
    services: ServicesDep, caller: PrincipalDep, workflow: str = ALL, tool: str = ALL
) -> dict[str, Any]:
    caller.require("admin")
    await controls.clear_switch(services.pool, caller.tenant, workflow, tool)
    return {"cleared": {"tenant": caller.tenant, "workflow": workflow, "tool": tool}}


@router.get("/spend-caps")
async def list_caps(services: ServicesDep, caller: PrincipalDep) -> list[dict[str, Any]]:
    """The tenant's daily spend caps, each with what was spent today (UTC)."""
    caller.require("admin")
    return [
        {
            **cap.model_dump(mode="json"),
            "spent_today_usd": str(
                await controls.spent_today(services.pool, caller.tenant, None if cap.workflow == ALL else cap.workflow)
            ),
        }
        for cap in await controls.list_caps(services.pool, caller.tenant)
    ]


@router.put("/spend-caps")
async def set_cap(body: SpendCapSet, services: ServicesDep, caller: PrincipalDep) -> dict[str, Any]:
    """Cap the tenant's model spend per UTC day (all workflows, or one): at the cap new runs get 429 and runs in
    flight escalate before their next step."""
    caller.require("admin")
    if body.workflow != ALL:
        services.workflow(body.workflow)
    cap = SpendCap(tenant=caller.tenant, workflow=body.workflow, usd_per_day=body.usd_per_day, set_by=caller.identity)
    return (await controls.set_cap(services.pool, cap)).model_dump(mode="json")


@router.delete("/spend-caps")
async def clear_cap(services: ServicesDep, caller: PrincipalDep, workflow: str = ALL) -> dict[str, Any]:
    caller.require("admin")
    await controls.clear_cap(services.pool, caller.tenant, workflow)
    return {"cleared": {"tenant": caller.tenant, "workflow": workflow}}
