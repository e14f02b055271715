"""Threads: create, read, search, delete; their state, history and audit trail. All scoped to the tenant."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from server.deps import PrincipalDep, ServicesDep
from server.paging import paginate, selected
from server.schemas import (
    HistoryRequest,
    StateAtCheckpoint,
    ThreadCount,
    ThreadCreate,
    ThreadSearch,
    ThreadUpdate,
    ttl_minutes,
)
from server.state import EMPTY_STATE, thread_state, within_thread
from steward import audit, threads
from steward.errors import NotFound
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
async def search_threads(
    body: ThreadSearch, response: Response, services: ServicesDep, caller: PrincipalDep
) -> list[dict[str, Any]]:
    found = await threads.search(
        services.pool,
        caller.tenant,
        status=body.status,
        metadata=body.metadata,
        values=body.values,
        ids=body.ids,
        limit=body.limit + 1,  # one more: is there a next page?
        offset=body.offset,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
        with_values=not body.select or "values" in body.select,
    )
    page = [thread.public() for thread in found[: body.limit]]
    paginate(response, offset=body.offset, limit=body.limit, shown=len(page), more=len(found) > body.limit)
    return selected(page, body.select)


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


async def _state_at(
    services: ServicesDep, caller: PrincipalDep, thread_id: str, selector: dict[str, Any] | None, subgraphs: bool
) -> dict[str, Any]:
    """The thread's state, at its latest checkpoint or at the one ``selector`` picks within it (404 if none)."""
    thread = await threads.get(services.pool, thread_id, caller.tenant)
    if thread.workflow is None:
        if selector:
            raise NotFound(f"thread {thread_id} has no checkpoints")
        return EMPTY_STATE
    snapshot = await services.graph(thread.workflow).aget_state(within_thread(thread, selector), subgraphs=subgraphs)
    if selector and snapshot.created_at is None:  # LangGraph answers an empty snapshot for an unknown one
        raise NotFound(f"no checkpoint {selector.get('checkpoint_id')!r} in thread {thread_id}")
    return thread_state(snapshot, thread_id)


@router.get("/{thread_id}/state")
async def get_state(
    thread_id: str, services: ServicesDep, caller: PrincipalDep, subgraphs: bool = False
) -> dict[str, Any]:
    return await _state_at(services, caller, thread_id, None, subgraphs)


@router.get("/{thread_id}/state/{checkpoint_id}")
async def get_state_at(
    thread_id: str, checkpoint_id: str, services: ServicesDep, caller: PrincipalDep, subgraphs: bool = False
) -> dict[str, Any]:
    """The state at one checkpoint of the thread."""
    return await _state_at(services, caller, thread_id, {"checkpoint_id": checkpoint_id}, subgraphs)


@router.post("/{thread_id}/state/checkpoint")
async def get_state_at_checkpoint(
    thread_id: str, body: StateAtCheckpoint, services: ServicesDep, caller: PrincipalDep
) -> dict[str, Any]:
    """The state at the checkpoint the body names (its ``checkpoint_id`` / ``checkpoint_ns``; never another
    thread: the path decides)."""
    return await _state_at(services, caller, thread_id, body.checkpoint or None, body.subgraphs)


@router.post("/{thread_id}/history")
async def get_history(
    thread_id: str, body: HistoryRequest, services: ServicesDep, caller: PrincipalDep
) -> list[dict[str, Any]]:
    thread = await threads.get(services.pool, thread_id, caller.tenant)
    if thread.workflow is None:
        return []
    # The thread comes from the path (and the key's tenant) only: a body may pick a checkpoint *within* it.
    config = within_thread(thread, body.checkpoint)
    before = (
        None
        if body.before is None
        else within_thread(thread, {"checkpoint_id": body.before} if isinstance(body.before, str) else body.before)
    )
    history = services.graph(thread.workflow).aget_state_history(
        config, limit=body.limit, before=before, filter=body.metadata
    )
    return [thread_state(snapshot, thread_id) async for snapshot in history]


@router.get("/{thread_id}/audit", responses={200: {"content": {"application/x-ndjson": {}}}})
async def get_audit(thread_id: str, request: Request, services: ServicesDep, caller: PrincipalDep) -> Response:
    """The thread's audit events as JSON, or as JSON lines with ``Accept: application/x-ndjson``."""
    await threads.get(services.pool, thread_id, caller.tenant)
    events = await audit.events_for(services.pool, thread_id, caller.tenant)
    if "application/x-ndjson" in request.headers.get("accept", ""):
        return Response(b"".join(dumps(e) + b"\n" for e in events), media_type="application/x-ndjson")
    return Response(dumps(events), media_type="application/json")
