"""Runs on threads (background, wait, stream), their records, join and cancel; and stateless runs."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from sse_starlette import EventSourceResponse

from server.deps import PrincipalDep, ServicesDep
from server.run_requests import detach, final_values, forget_if_stateless, location, metadata_event, sse_events, submit
from server.schemas import Limit, Offset, RunCreate
from steward import operations, runs, threads
from steward.errors import InvalidRequest
from steward.executor import Finished, Sink, wait_until_done
from steward.jsonable import dumps
from steward.keys import Principal
from steward.runs import Run
from steward.services import Services

router = APIRouter(tags=["runs"])


def _json(data: Any, headers: dict[str, str] | None = None, status_code: int = 200) -> Response:
    return Response(dumps(data), media_type="application/json", headers=headers, status_code=status_code)


async def _background(services: Services, caller: Principal, thread_id: str | None, body: RunCreate) -> Response:
    run, _ = await submit(services, caller, thread_id, body, inline=False)
    return _json(run.public(), location(run))


async def _run_here(
    services: Services,
    caller: Principal,
    run: Run,
    worker: str,
    body: RunCreate,
    stateless: bool,
    sink: Sink | None = None,
) -> Finished:
    """Execute a run this process accepted; a stateless run's thread is forgotten afterwards, on every path
    (the caller may have gone: this runs detached from the request)."""
    finished = await operations.run_inline(services, run, worker, sink=sink, modes=body.modes() if sink else ())
    if stateless:
        await forget_if_stateless(services, run.thread_id, caller.tenant, finished, body)
    return finished


async def _wait(
    request: Request, services: Services, caller: Principal, thread_id: str | None, body: RunCreate
) -> Response:
    run, worker = await submit(services, caller, thread_id, body, inline=True)
    assert worker is not None  # an inline submission names this process's worker
    finished = await asyncio.shield(detach(request, _run_here(services, caller, run, worker, body, thread_id is None)))
    return _json(final_values(finished), location(run))


async def _stream(
    request: Request, services: Services, caller: Principal, thread_id: str | None, body: RunCreate
) -> EventSourceResponse:
    run, worker = await submit(services, caller, thread_id, body, inline=True)
    assert worker is not None  # an inline submission names this process's worker
    queue: asyncio.Queue = asyncio.Queue()

    async def sink(mode: str, chunk: Any) -> None:
        queue.put_nowait((mode, chunk))

    async def execute() -> Finished:
        try:
            return await _run_here(services, caller, run, worker, body, thread_id is None, sink)
        finally:
            queue.put_nowait(None)

    task = detach(request, execute())
    return EventSourceResponse(
        sse_events(services, run, task, queue, body.on_disconnect), headers=location(run), ping=15
    )


@router.post("/threads/{thread_id}/runs")
async def create_run(thread_id: str, body: RunCreate, services: ServicesDep, caller: PrincipalDep) -> Response:
    """Queue a background run; workers (in this server or ``steward worker``) execute it."""
    return await _background(services, caller, thread_id, body)


@router.post("/threads/{thread_id}/runs/wait")
async def wait_run(
    thread_id: str, body: RunCreate, request: Request, services: ServicesDep, caller: PrincipalDep
) -> Response:
    """Run and answer with the final state (``__interrupt__`` when it paused for approval)."""
    return await _wait(request, services, caller, thread_id, body)


@router.post("/threads/{thread_id}/runs/stream")
async def stream_run(
    thread_id: str, body: RunCreate, request: Request, services: ServicesDep, caller: PrincipalDep
) -> EventSourceResponse:
    """Run and stream server-sent events: ``metadata``, the chunks of each stream mode, ``end``."""
    return await _stream(request, services, caller, thread_id, body)


@router.post("/runs")
async def create_stateless_run(body: RunCreate, services: ServicesDep, caller: PrincipalDep) -> Response:
    return await _background(services, caller, None, body)


@router.post("/runs/wait")
async def wait_stateless_run(
    body: RunCreate, request: Request, services: ServicesDep, caller: PrincipalDep
) -> Response:
    return await _wait(request, services, caller, None, body)


@router.post("/runs/stream")
async def stream_stateless_run(
    body: RunCreate, request: Request, services: ServicesDep, caller: PrincipalDep
) -> EventSourceResponse:
    return await _stream(request, services, caller, None, body)


@router.get("/threads/{thread_id}/runs")
async def list_runs(
    thread_id: str,
    services: ServicesDep,
    caller: PrincipalDep,
    limit: Limit = 10,
    offset: Offset = 0,
    status: str | None = None,
) -> Response:
    found = await runs.list_for_thread(
        services.pool, thread_id, caller.tenant, limit=limit, offset=offset, status=status
    )
    return _json([run.public() for run in found])


@router.get("/threads/{thread_id}/runs/{run_id}")
async def get_run(thread_id: str, run_id: str, services: ServicesDep, caller: PrincipalDep) -> Response:
    run = await runs.get(services.pool, thread_id, run_id, caller.tenant)
    return _json(run.public())


async def _joined(services: Services, caller: Principal, thread_id: str, run_id: str) -> dict[str, Any]:
    run = await runs.get(services.pool, thread_id, run_id, caller.tenant)
    run = await wait_until_done(services, run, services.notifier)
    thread = await threads.get(services.pool, thread_id, caller.tenant)
    return final_values(Finished(run=run, values=thread.state_values or {}, interrupts=thread.interrupts))


@router.get("/threads/{thread_id}/runs/{run_id}/join")
async def join_run(thread_id: str, run_id: str, services: ServicesDep, caller: PrincipalDep) -> Response:
    """Wait for a run to end and answer with its thread's final state."""
    return _json(await _joined(services, caller, thread_id, run_id))


@router.get("/threads/{thread_id}/runs/{run_id}/stream")
async def join_stream(thread_id: str, run_id: str, services: ServicesDep, caller: PrincipalDep) -> EventSourceResponse:
    """Join a run's stream: waits for it to end and sends its final ``values`` (chunks are not replayed)."""
    run = await runs.get(services.pool, thread_id, run_id, caller.tenant)

    async def events():
        yield metadata_event(run)
        yield {"event": "values", "data": dumps(await _joined(services, caller, thread_id, run_id)).decode()}
        yield {"event": "end", "data": "null"}

    return EventSourceResponse(events(), ping=15)


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(
    thread_id: str,
    run_id: str,
    services: ServicesDep,
    caller: PrincipalDep,
    wait: bool = False,
    action: Literal["interrupt", "rollback"] = "interrupt",
) -> Response:
    """Cancel a run: a queued one at once, a running one at its next heartbeat (``wait=1`` waits for that).
    ``rollback`` is refused: a governed write that happened stays in the system of record and the audit trail."""
    caller.require("runner")
    if action == "rollback":
        raise InvalidRequest(
            "cancel action 'rollback' is not supported: governed writes are not undone; use 'interrupt'"
        )
    run = await runs.cancel(services.pool, thread_id, run_id, caller.tenant)
    if wait:
        run = await wait_until_done(services, run, services.notifier, timeout=services.settings.run_lease_s)
    return _json(run.public())


@router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204)
async def delete_run(thread_id: str, run_id: str, services: ServicesDep, caller: PrincipalDep) -> Response:
    caller.require("runner")
    await runs.delete(services.pool, thread_id, run_id, caller.tenant)
    return Response(status_code=204)
