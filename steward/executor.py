"""Execute a claimed run: drive its graph, stream the events, hold the lease, record how it ended.

A run resumed by another worker after a crash continues from its last checkpoint: when the thread's latest
checkpoint already belongs to this run, the graph is driven with ``None`` (continue) instead of the original
input or resume command, so nothing is applied twice; writes repeat safely under their idempotency keys.

Status semantics follow LangGraph Server: a run that pauses at an approval ends ``success`` and leaves its
thread ``interrupted``; ``interrupted`` as a *run* status means it was cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, StreamMode
from psycopg_pool import PoolTimeout

from steward import audit, metrics, runs, threads, tracing
from steward.budget import BudgetOverride
from steward.checkpoint import HELD, Held
from steward.errors import Conflict
from steward.jsonable import jsonable
from steward.notify import POLL_RECHECK_S, SAFETY_RECHECK_S, Wakeups
from steward.runs import Run
from steward.services import Services, StewardContext
from steward.tool_calls import FAULTS, RunFaults
from steward.workflow import assistant_id

log = logging.getLogger(__name__)
Sink = Callable[[str, Any], Awaitable[None]]
STREAM_MODES = {
    "values": "values",
    "updates": "updates",
    "custom": "custom",
    "debug": "debug",
    "messages-tuple": "messages",
    "tasks": "tasks",
    "checkpoints": "checkpoints",
}
"""Client stream mode -> LangGraph stream mode (also the SSE event name)."""


def worker_id() -> str:
    """An id for this executing process, unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Finished:
    """How a run ended: the run record, the state values (JSON) and pending interrupts."""

    run: Run
    values: dict[str, Any]
    interrupts: dict[str, list[dict[str, Any]]]


def context_for(services: Services, run: Run) -> StewardContext:
    """Run context: the run's tenant and overrides, acting as the run's creator."""
    budget = run.overrides.get("budget")
    return StewardContext(
        tenant=run.tenant,
        thread_id=run.thread_id,
        user=run.created_by,
        services=services,
        budget=BudgetOverride.model_validate(budget) if budget else None,
        models=run.overrides.get("models") or {},
    )


async def _graph_input(services: Services, run: Run, config: RunnableConfig) -> Any:
    """What to drive the graph with: None to continue a crashed attempt, else the input or resume command."""
    latest = None  # only a retry or a run queued behind another can find a checkpoint already there
    if run.attempt > 1 or ("input" in run.payload and run.multitask_strategy == "enqueue"):
        latest = await services.checkpointer.aget_tuple({"configurable": config["configurable"]})
    if latest is not None and latest.metadata.get("run_id") == run.run_id:
        return None  # a retry after a crash: continue from the checkpoint the crashed attempt left
    if "command" in run.payload:
        return Command(resume=run.payload["command"]["resume"])
    if latest is not None:  # queued behind a run that has since handled this thread's case
        raise Conflict(runs.already_ran(run.thread_id))
    return run.payload["input"]


async def _drive(
    services: Services, run: Run, config: RunnableConfig, sink: Sink | None, modes: Sequence[str]
) -> dict[str, Any]:
    graph = services.graph(run.workflow)
    payload = await _graph_input(services, run, config)
    if isinstance(payload, Command):
        state = await graph.aget_state(config)
        if not state.interrupts:
            raise Conflict(f"thread {run.thread_id} is not waiting for an approval")
        bound = run.payload.get("interrupt_id")
        if bound is not None and state.interrupts[0].id != bound:
            raise Conflict(
                f"the approval request this decision was made for (interrupt {bound}) was decided"
                " meanwhile; review the new request"
            )
    wanted = {STREAM_MODES[m] for m in modes}
    values: dict[str, Any] = {}
    try:
        async for mode, chunk in graph.astream(
            payload,
            config,
            context=context_for(services, run),
            stream_mode=cast(list[StreamMode], sorted({"values", *wanted})),
            durability="sync",
        ):
            if mode == "values":
                values = cast(dict[str, Any], chunk)
            if sink is not None and mode in wanted:
                if mode in CONFIG_MODES:
                    chunk = _named_by_tenant(chunk, config["configurable"]["thread_id"], run.thread_id)
                await sink(mode, chunk)
    finally:  # the run's last durable point (see steward.checkpoint), before its end is recorded
        await services.checkpointer.flush()
    return values


async def execute_run(
    services: Services, run: Run, worker: str, *, sink: Sink | None = None, modes: Sequence[str] = ()
) -> Finished:
    """Execute a run this worker holds (status ``running``) to its end and record it, under a span
    ``invoke_agent <workflow>`` that continues the trace of the case's first run (when tracing is on)."""
    parent = await runs.trace_parent(services.pool, run.tenant, run.thread_id) if tracing.enabled() else None
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": run.workflow,
        "gen_ai.conversation.id": run.thread_id,
        "steward.tenant": run.tenant,
        "steward.workflow": run.workflow,
        "steward.run_id": run.run_id,
        "steward.user": run.created_by,
        "steward.attempt": run.attempt,
    }
    with tracing.span(f"invoke_agent {run.workflow}", attributes, parent=parent) as run_span:
        finished = await _execute(services, run, worker, sink, modes)
        outcome = finished.run.outcome or {}
        run_span.set_attributes(
            {"steward.run_status": finished.run.status, "steward.outcome": outcome.get("status", "waiting")}
        )
        if outcome.get("reason_code"):
            run_span.set_attribute("steward.reason_code", outcome["reason_code"])
        return finished


async def _execute(services: Services, run: Run, worker: str, sink: Sink | None, modes: Sequence[str]) -> Finished:
    events = audit.PENDING.set([])  # the steps' audit events and
    held = HELD.set(Held())  # the checkpoints, stored together at the run's durable points
    faults = FAULTS.set(RunFaults())  # the sandbox's fault injection, read once
    try:
        return await _drive_and_record(services, run, worker, sink, modes)
    finally:
        FAULTS.reset(faults)
        HELD.reset(held)
        audit.PENDING.reset(events)


CONFIG_MODES = {"checkpoints", "debug"}
"""The stream modes whose chunks carry LangGraph configs, so the checkpoint key (see below)."""


def _named_by_tenant(chunk: Any, key: str, thread_id: str) -> Any:
    """A stream chunk with the checkpoint key (in ``checkpoints`` and ``debug`` configs) replaced by the thread id
    its tenant knows."""
    if chunk == key:
        return thread_id
    if isinstance(chunk, dict):
        return {k: _named_by_tenant(v, key, thread_id) for k, v in chunk.items()}
    if isinstance(chunk, list | tuple):
        return [_named_by_tenant(v, key, thread_id) for v in chunk]
    return chunk


def checkpoint_metadata(run: Run) -> dict[str, Any]:
    """What each checkpoint of ``run`` records beside LangGraph's own fields, as LangGraph Server records it: the
    run's metadata, its assistant and graph, the attempt and who asked (LangGraph keeps only scalar values)."""
    return {
        **run.metadata,
        "run_id": run.run_id,
        "assistant_id": assistant_id(run.workflow),
        "graph_id": run.workflow,
        "run_attempt": run.attempt,
        "user_id": run.created_by,
        "created_by": run.created_by,
    }


async def _drive_and_record(
    services: Services, run: Run, worker: str, sink: Sink | None, modes: Sequence[str]
) -> Finished:
    lease = services.settings.run_lease_s
    config = services.run_config(
        threads.checkpoint_thread(run.tenant, run.thread_id), run.run_id, metadata=checkpoint_metadata(run)
    )
    drive = asyncio.create_task(_drive(services, run, config, sink, modes))
    stop: dict[str, str] = {}

    async def keep_lease() -> None:
        async with services.notifier.watching(f"cancel:{run.run_id}") as cancelled:
            while not drive.done():
                interval = min(lease / 3, 5.0)  # a heartbeat, or at once when a pushed cancel arrives
                await (cancelled.wait(interval) if services.notifier.pushes else asyncio.sleep(interval))
                state = await runs.renew_lease(services.pool, run.run_id, worker, lease)
                if state is None or state:
                    stop["why"] = "lost" if state is None else "cancelled"
                    drive.cancel()
                    return

    heartbeat = asyncio.create_task(keep_lease())
    started = time.perf_counter()
    status, error, values, refused = "success", None, {}, False
    try:
        values = await drive
    except asyncio.CancelledError:
        if "why" not in stop:
            raise  # our caller is being cancelled: leave the lease to lapse so another worker continues
        status, error = "interrupted", "cancelled"
    except Conflict as exc:  # refused before the graph ran: the thread's case is left as it was
        status, error, refused = "error", str(exc), True
    except (psycopg.OperationalError, PoolTimeout):
        # the database went away: nothing can be recorded now; the lease lapses and another attempt continues
        # from the last checkpoint once it is back (as after a worker crash)
        log.warning("run %s lost its database; leaving it to be retried from its last checkpoint", run.run_id)
        raise
    except Exception as exc:  # a failing graph is the run's error, recorded, not the caller's crash
        log.exception("run %s failed", run.run_id)
        status, error = "error", f"{type(exc).__name__}: {exc}"
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
    if stop.get("why") == "lost":
        log.warning("run %s: lease lost to another worker; not recording its end", run.run_id)
        return Finished(run=run, values=jsonable(values), interrupts={})
    interrupts = await _pending_interrupts(services, run, config) if "__interrupt__" in values else {}
    state_values = jsonable({k: v for k, v in values.items() if k != "__interrupt__"})
    outcome = state_values.get("outcome")
    await runs.finish(
        services.pool,
        run,
        worker,
        status=status,
        error=error,
        outcome=outcome,
        values=state_values or None,
        interrupts=interrupts,
        refused=refused,
        trace_id=tracing.trace_id(),
        traceparent=tracing.traceparent(),
    )
    metrics.RUNS.labels(run.workflow, status, (outcome or {}).get("status", "waiting" if interrupts else "none")).inc()
    metrics.RUN_SECONDS.labels(run.workflow).observe(time.perf_counter() - started)
    final = run.model_copy(
        update={"status": status, "error": error, "outcome": outcome, "trace_id": tracing.trace_id()}
    )
    return Finished(run=final, values=state_values, interrupts=interrupts)


async def _pending_interrupts(services: Services, run: Run, config: RunnableConfig) -> dict[str, Any]:
    state = await services.graph(run.workflow).aget_state(config)
    return {task.id: jsonable(list(task.interrupts)) for task in state.tasks if task.interrupts}


async def claim_own(services: Services, run: Run, worker: str, notifier: Wakeups) -> Run:
    """Wait until a queued run of ours may start (its thread is free and it is first in line), then claim it."""
    while run.status == "pending":
        async with notifier.watching(run.thread_id) as woken:
            claimed = await runs.claim(services.pool, worker, services.settings.run_lease_s, run.run_id)
            if claimed is not None:
                return claimed
            current = await runs.get(services.pool, run.thread_id, run.run_id, run.tenant)
            if current.status != "pending":
                return current  # cancelled, or taken by a worker after the grace period
            await woken.wait(1.0)
    return run


async def wait_until_done(services: Services, run: Run, notifier: Wakeups, timeout: float | None = None) -> Run:
    """Block until a run reaches a terminal status (or ``timeout`` seconds pass); returns it as it stands."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    async with notifier.watching(run.run_id) as woken:
        while True:
            run = await runs.get(services.pool, run.thread_id, run.run_id, run.tenant)
            if run.status in runs.TERMINAL or (deadline is not None and loop.time() >= deadline):
                return run
            recheck = SAFETY_RECHECK_S if notifier.pushes else POLL_RECHECK_S
            await woken.wait(recheck if deadline is None else max(0.0, min(recheck, deadline - loop.time())))
