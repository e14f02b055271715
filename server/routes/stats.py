"""Cost and outcomes of the caller's tenant per workflow over a window (see :mod:`steward.stats`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from server.deps import PrincipalDep, ServicesDep
from steward import stats

router = APIRouter(tags=["governance"])


@router.get("/stats")
async def get_stats(
    services: ServicesDep,
    caller: PrincipalDep,
    since: Annotated[str, Query(description="a window: 30m, 24h, 7d")] = "24h",
    workflow: str | None = None,
) -> list[dict[str, Any]]:
    """Per workflow: cases and outcomes, completion and escalation rates, cost per completed case, tool calls per
    case, p50/p95 latency, approvals approved / edited / rejected / expired and pending, and how people agree
    with the autopilot (suggest mode) or what shadow mode would have done."""
    caller.require("approver")
    if workflow is not None:
        services.workflow(workflow)
    return await stats.for_tenant(
        services.pool, caller.tenant, stats.window_start(since), workflow, writes=services.catalog.write_tools
    )
