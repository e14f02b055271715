"""From an SDK run request to a submitted run, and from a finished run to the SDK's response shapes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request

from server.assistants import assistant_id, resolve
from server.schemas import RunCreate
from steward import operations, runs, threads
from steward.budget import BudgetOverride
from steward.errors import InvalidRequest, parse_as
from steward.executor import Finished, worker_id
from steward.jsonable import dumps
from steward.keys import Principal
from steward.services import Services

CONTEXT_KEYS = {"tenant", "user", "budget", "models"}


def _overrides(body: RunCreate) -> dict[str, Any] | None:
    """Budget and model routing from ``context`` (tenant and user always come from the API key)."""
    context = body.context or {}
    if unknown := set(context) - CONTEXT_KEYS:
        raise InvalidRequest(f"unknown context keys {sorted(unknown)}; allowed: budget, models")
    if not context.get("budget") and not context.get("models"):
        return None
    budget = parse_as(BudgetOverride, context["budget"], "context.budget") if context.get("budget") else None
    return operations.overrides(budget, context.get("models"))


async def submit(
    services: Services, caller: Principal, thread_id: str | None, body: RunCreate, *, inline: bool
) -> tuple[runs.Run, str | None]:
    """Validate and submit a run; returns it and the worker id that will execute it here (if ``inline``).
    ``thread_id`` None is a stateless run on a new thread."""
    if problem := body.unsupported():
        raise InvalidRequest(problem)
    workflow = resolve(services.catalog, body.assistant_id)
    caller.require("approver" if body.command else "runner")
    payload = (
        {"command": {"resume": body.command.resume}}
        if body.command
        else {"input": operations.validate_input(workflow, body.input)}
    )
    overrides = _overrides(body)
    if overrides and overrides.get("models"):
        services.settings.check_routable(overrides["models"], "context.models")
    if body.command is None:
        await operations.refuse_if_stopped(services, caller.tenant, workflow.name)
    if body.command is not None and thread_id is not None:
        thread = await threads.get(services.pool, thread_id, caller.tenant)
        await operations.check_edit(services, thread, body.command.resume, caller.identity)
    if thread_id is None:
        thread_id = (
            await threads.create(
                services.pool, tenant=caller.tenant, created_by=caller.identity, metadata={"stateless": True}
            )
        ).thread_id
    elif body.if_not_exists == "create":
        await threads.create(
            services.pool, tenant=caller.tenant, created_by=caller.identity, thread_id=thread_id, if_exists="do_nothing"
        )
    worker = worker_id() if inline else None
    run = await runs.submit(
        services.pool,
        thread_id=thread_id,
        tenant=caller.tenant,
        user=caller.identity,
        workflow=workflow.name,
        payload=payload,
        metadata=body.metadata,
        strategy="enqueue" if body.multitask_strategy == "enqueue" else "reject",  # the others were refused
        worker=worker,
        lease_s=services.settings.run_lease_s,
        grace_s=services.settings.inline_grace_s if inline else 0.0,
        overrides=overrides,
        labels={"assistant_id": assistant_id(workflow.name)},
        webhook=body.webhook,
    )
    return run, worker


def location(run: runs.Run) -> dict[str, str]:
    return {"Content-Location": f"/threads/{run.thread_id}/runs/{run.run_id}"}


def detach(request: Request, coro: Any) -> asyncio.Task:
    """Run ``coro`` independently of the request, so a client that disconnects does not stop the run."""
    task = asyncio.create_task(coro)
    inflight: set[asyncio.Task] = request.app.state.inflight
    inflight.add(task)
    task.add_done_callback(inflight.discard)
    return task


def final_values(finished: Finished) -> dict[str, Any]:
    """What ``runs.wait`` / ``join`` return: the state values, plus ``__interrupt__`` or ``__error__``."""
    if finished.run.status == "error":
        return {**finished.values, "__error__": {"error": "RunError", "message": finished.run.error}}
    if finished.interrupts:
        return {**finished.values, "__interrupt__": runs.pending_interrupts(finished.interrupts)}
    return finished.values


async def forget_if_stateless(
    services: Services, thread_id: str, tenant: str, finished: Finished, body: RunCreate
) -> None:
    """Stateless runs delete their thread when done unless ``on_completion`` says keep (a paused run's thread
    stays: its approval is still to come). Audit events are never deleted."""
    if body.on_completion != "keep" and not finished.interrupts and finished.run.status != "running":
        await threads.delete(services.pool, thread_id, tenant)


def metadata_event(run: runs.Run) -> dict[str, str]:
    """The first event of every run stream, as LangGraph Server sends it."""
    return {"event": "metadata", "data": dumps({"run_id": run.run_id, "attempt": max(run.attempt, 1)}).decode()}


async def sse_events(
    services: Services, run: runs.Run, task: asyncio.Task, queue: asyncio.Queue, on_disconnect: str
) -> AsyncIterator[dict[str, str]]:
    """``metadata`` first, then one event per stream chunk, ``error`` if the run failed, ``end`` last."""
    yield metadata_event(run)
    try:
        while (item := await queue.get()) is not None:
            mode, chunk = item
            yield {"event": mode, "data": dumps(chunk).decode()}
        finished: Finished = await task
        if finished.run.status == "error":
            yield {"event": "error", "data": dumps({"error": "RunError", "message": finished.run.error}).decode()}
    except asyncio.CancelledError:
        if on_disconnect == "cancel" and not task.done():
            await runs.cancel(services.pool, run.thread_id, run.run_id, run.tenant)
        raise
    yield {"event": "end", "data": "null"}
