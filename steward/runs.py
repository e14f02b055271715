"""Start and resume workflow runs: the one place the CLI (and the server) drive graphs from.

Every client mistake is a :class:`steward.errors.StewardError` raised *before* anything is written.
A thread runs one thing at a time: a Postgres advisory lock per thread, held for the whole invocation,
turns a second concurrent start or resume (another process included) into a :class:`Conflict`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from langgraph.types import Command
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from graphs import WORKFLOWS, Workflow
from steward.approvals import ApprovalRequest, check_response, parse_response
from steward.budget import BudgetOverride
from steward.errors import Conflict, InvalidRequest, NotFound, parse_as
from steward.outcome import Outcome
from steward.services import Services, StewardContext
from steward.settings import MODEL_TIERS, check_provider

RunStatus = Literal["interrupted", "completed", "escalated", "denied", "rejected"]


class RunResult(BaseModel):
    """Where a run stands after an invocation."""

    thread_id: str
    run_id: str
    workflow: str
    tenant: str
    status: RunStatus
    outcome: Outcome | None = None
    approval_request: dict[str, Any] | None = None
    response: str | None = None
    usage: dict[str, Any] | None = None


class Thread(BaseModel):
    thread_id: str
    tenant: str
    workflow: str
    created_by: str
    metadata: dict[str, Any] = {}


def get_workflow(name: str) -> Workflow:
    if name not in WORKFLOWS:
        raise NotFound(f"unknown workflow {name!r}; known: {', '.join(sorted(WORKFLOWS))}")
    return WORKFLOWS[name]


def validate_input(workflow: Workflow, raw: Any) -> dict[str, Any]:
    """The input as the workflow's input schema accepts it; the error names each bad field."""
    what = f"input does not match the {workflow.name} input schema"
    return parse_as(workflow.input_schema, raw, what).model_dump(mode="json")


def check_model_overrides(models: dict[str, str]) -> dict[str, str]:
    """Per-run tier overrides, refused up front if a tier or provider is unknown."""
    for tier, provider in models.items():
        if tier not in MODEL_TIERS:
            raise InvalidRequest(f"unknown model tier {tier!r}; tiers are {', '.join(MODEL_TIERS)}")
        try:
            check_provider(provider)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
    return models


async def get_thread(pool: AsyncConnectionPool, thread_id: str, tenant: str) -> Thread:
    """A thread of ``tenant`` (another tenant's thread is reported as unknown)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT thread_id, tenant, workflow, created_by, metadata FROM steward.threads"
            " WHERE thread_id = %s AND tenant = %s", (thread_id, tenant))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"unknown thread {thread_id!r}")
    return Thread.model_validate(row)


async def create_thread(pool: AsyncConnectionPool, thread: Thread) -> None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO steward.threads (thread_id, tenant, workflow, created_by, metadata)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (thread_id) DO NOTHING",
            (thread.thread_id, thread.tenant, thread.workflow, thread.created_by, Jsonb(thread.metadata)))
        if cur.rowcount == 0:
            raise Conflict(f"thread {thread.thread_id!r} already exists")


@asynccontextmanager
async def thread_lock(pool: AsyncConnectionPool, thread_id: str) -> AsyncIterator[None]:
    """Hold the thread's advisory lock, or raise Conflict if another invocation holds it."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS ok", (thread_id,))
        if not (await cur.fetchone())["ok"]:
            raise Conflict(f"thread {thread_id} is busy with another run; retry when it finishes")
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (thread_id,))


async def pending_approval(services: Services, thread: Thread) -> dict[str, Any] | None:
    """The approval request a thread waits on, if any."""
    state = await services.graph(thread.workflow).aget_state({"configurable": {"thread_id": thread.thread_id}})
    return state.interrupts[0].value if state.interrupts else None


async def _invoke(services: Services, thread: Thread, payload: Any, context: StewardContext) -> RunResult:
    graph = services.graph(thread.workflow)
    run_id = str(uuid.uuid4())
    config = services.run_config(thread.thread_id, run_id)
    await graph.ainvoke(payload, config, context=context)
    state = await graph.aget_state(config)
    values = state.values
    outcome = values.get("outcome")
    return RunResult(
        thread_id=thread.thread_id, run_id=run_id, workflow=thread.workflow, tenant=thread.tenant,
        status="interrupted" if state.interrupts else outcome.status,
        outcome=None if state.interrupts else outcome,
        approval_request=state.interrupts[0].value if state.interrupts else None,
        response=values.get("response"), usage=values["usage"].model_dump(mode="json"),
    )


async def start_run(services: Services, workflow: str, raw_input: Any, *, tenant: str, user: str,
                    thread_id: str | None = None, budget: BudgetOverride | None = None,
                    models: dict[str, str] | None = None) -> RunResult:
    """Validate the input, register the thread and run the workflow until it ends or waits for approval."""
    spec = get_workflow(workflow)
    payload = validate_input(spec, raw_input)
    models = check_model_overrides(models or {})
    overrides = {"budget": budget.model_dump(mode="json", exclude_none=True) if budget else None,
                 "models": models}
    thread = Thread(thread_id=thread_id or str(uuid.uuid4()), tenant=tenant, workflow=workflow, created_by=user,
                    metadata={"overrides": overrides})
    await create_thread(services.pool, thread)
    async with thread_lock(services.pool, thread.thread_id):
        return await _invoke(services, thread, payload, _context(services, thread, user))


def _context(services: Services, thread: Thread, user: str) -> StewardContext:
    """The run context, with the per-run overrides recorded when the thread started (so resumes keep them)."""
    overrides = thread.metadata.get("overrides") or {}
    budget = BudgetOverride.model_validate(overrides["budget"]) if overrides.get("budget") else None
    return StewardContext(tenant=thread.tenant, user=user, services=services, budget=budget,
                          models=overrides.get("models") or {})


async def resume_run(services: Services, thread_id: str, raw_response: Any, *, tenant: str, user: str
                     ) -> RunResult:
    """Resume a thread waiting for approval with a decision (approve / edit / reject) by ``user``."""
    thread = await get_thread(services.pool, thread_id, tenant)
    response = parse_response(raw_response)
    response.decided_by = response.decided_by or user
    async with thread_lock(services.pool, thread_id):
        request = await pending_approval(services, thread)
        if request is None:
            raise Conflict(f"thread {thread_id} is not waiting for an approval")
        check_response(ApprovalRequest.model_validate(request), response)
        command = Command(resume=response.model_dump(mode="json"))
        return await _invoke(services, thread, command, _context(services, thread, user))
