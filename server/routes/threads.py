"""Threads: create, read, search, delete; their state, history and audit trail. All scoped to the tenant."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from server.deps import PrincipalDep, ServicesDep
from server.schemas import HistoryRequest, ThreadCount, ThreadCreate, ThreadSearch, ThreadUpdate, ttl_minutes
from server.state import EMPTY_STATE, thread_state, within_thread
from steward import audit, threads
from steward.jsonable import dumps

router = APIRouter(prefix="/threads", tags=["threads"])


@router.post("")
async def create_thread(body: ThreadCreate, services: ServicesDep, caller: PrincipalDep) -> dict[str, Any]:
    caller.require("runner")
    thread = await threads.create(
        services.pool,
        tenant=caller.tenant,
        created_by=caller.identity,
        thread_id=body.thread_id,
        metadata=body.metadata,
        if_exists=body.if_exists,
        ttl_minutes=ttl_minutes(body.ttl),
    )
    return thread.public()


@router.post("/search")
async def search_threads(body: ThreadSearch, services: ServicesDep, caller: PrincipalDep) -> list[dict[str, Any]]:
    found = await threads.search(
        services.pool,
        caller.tenant,
        status=body.status,
        metadata=body.metadata,
        values=body.values,
        ids=body.ids,
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
    )
    return [thread.public() for thread in found]


@router.post("/count")
async def count_threads(body: ThreadCount, services: ServicesDep, caller: PrincipalDep) -> int:
    """How many of the tenant's threads match (what Studio shows beside its thread list)."""
    return await threads.count(
        services.pool, caller.tenant, status=body.status, metadata=body.metadata, values=body.values
    )


@router.get("/{thread_id}")
async def get_thread(thread_id: str, services: ServicesDep, caller: PrincipalDep) -> dict[str, Any]:
    return (await threads.get(services.pool, thread_id, caller.tenant)).public()


@router.patch("/{thread_id}")
async def update_thread(
    thread_id: str, body: ThreadUpdate, services: ServicesDep, caller: PrincipalDep
) -> dict[str, Any]:
    caller.require("runner")
    updated = await threads.update(
        services.pool, thread_id, caller.tenant, metadata=body.metadata, ttl_minutes=ttl_minutes(body.ttl)
    )
    return updated.public()


@router.delete("/{thread_id}", status_code=204)
async def delete_thread(thread_id: str, services: ServicesDep, caller: PrincipalDep) -> Response:
    caller.require("runner")
    await threads.delete(services.pool, thread_id, caller.tenant)
    return Response(status_code=204)


@router.get("/{thread_id}/state")
async def get_state(
    thread_id: str, services: ServicesDep, caller: PrincipalDep, subgraphs: bool = False
) -> dict[str, Any]:
    thread = await threads.get(services.pool, thread_id, caller.tenant)
    if thread.workflow is None:
        return EMPTY_STATE
    snapshot = await services.graph(thread.workflow).aget_state(
        {"configurable": {"thread_id": thread_id}}, subgraphs=subgraphs
    )
    return thread_state(snapshot)


@router.post("/{thread_id}/history")
async def get_history(
    thread_id: str, body: HistoryRequest, services: ServicesDep, caller: PrincipalDep
) -> list[dict[str, Any]]:
    thread = await threads.get(services.pool, thread_id, caller.tenant)
    if thread.workflow is None:
        return []
    # The thread comes from the path (and the key's tenant) only: a body may pick a checkpoint *within* it.
    config = within_thread(thread_id, body.checkpoint)
    before = (
        None
        if body.before is None
        else within_thread(thread_id, {"checkpoint_id": body.before} if isinstance(body.before, str) else body.before)
    )
    history = services.graph(thread.workflow).aget_state_history(
        config, limit=body.limit, before=before, filter=body.metadata
    )
    return [thread_state(snapshot) async for snapshot in history]


@router.get("/{thread_id}/audit", responses={200: {"content": {"application/x-ndjson": {}}}})
async def get_audit(thread_id: str, request: Request, services: ServicesDep, caller: PrincipalDep) -> Response:
    """The thread's audit events as JSON, or as JSON lines with ``Accept: application/x-ndjson``."""
    await threads.get(services.pool, thread_id, caller.tenant)
    events = await audit.events_for(services.pool, thread_id, caller.tenant)
    if "application/x-ndjson" in request.headers.get("accept", ""):
        return Response(b"".join(dumps(e) + b"\n" for e in events), media_type="application/x-ndjson")
    return Response(dumps(events), media_type="application/json")
