"""What people and clients do with workflows: start a run, decide an approval. Used by the CLI and the server.

Every client mistake raises a :class:`steward.errors.StewardError` before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from steward import runs, threads
from steward.budget import BudgetOverride
from steward.errors import InvalidRequest, parse_as
from steward.executor import Finished, Sink, claim_own, execute_run, worker_id
from steward.outcome import Outcome
from steward.services import Services
from steward.settings import MODEL_TIERS, check_provider
from steward.statuses import Result
from steward.workflow import Workflow


class RunResult(BaseModel):
    """Where a run stands after an invocation (what ``steward run`` / ``resume`` print)."""

    thread_id: str
    run_id: str
    workflow: str
    tenant: str
    status: Result
    outcome: Outcome | None = None
    approval_request: dict[str, Any] | None = None
    response: str | None = None
    usage: dict[str, Any] | None = None
    error: str | None = None

    @classmethod
    def of(cls, finished: Finished) -> RunResult:
        run, values = finished.run, finished.values
        pending = [i for items in finished.interrupts.values() for i in items]
        outcome = values.get("outcome")
        status = ("interrupted" if pending else "error" if run.status == "error" else
                  outcome["status"] if outcome else "completed")
        return cls(thread_id=run.thread_id, run_id=run.run_id, workflow=run.workflow, tenant=run.tenant,
                   status=status, outcome=None if pending else outcome,
                   approval_request=pending[0]["value"] if pending else None,
                   response=values.get("response"), usage=values.get("usage"), error=run.error)


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


def parse_models(text: str | None) -> dict[str, str]:
    """``small=openai:gpt-4o-mini,medium=rules`` -> {"small": ..., "medium": ...} (a CLI's ``--model``)."""
    if not text:
        return {}
    pairs = [item.split("=", 1) for item in text.split(",") if item]
    if any(len(pair) != 2 for pair in pairs):
        raise InvalidRequest(f"--model expects tier=provider[,tier=provider], got {text!r}")
    return check_model_overrides(dict(pairs))


async def pending_request(services: Services, thread_id: str, tenant: str) -> dict[str, Any] | None:
    """The approval request a thread waits on, if any."""
    thread = await threads.get(services.pool, thread_id, tenant)
    pending = [i for items in thread.interrupts.values() for i in items]
    return pending[0]["value"] if pending else None


def overrides(budget: BudgetOverride | None, models: dict[str, str] | None) -> dict[str, Any]:
    """Thread overrides as stored: a stricter budget and tier routing for every run of the thread."""
    return {"budget": budget.model_dump(mode="json", exclude_none=True) if budget else None,
            "models": check_model_overrides(models or {})}


async def run_inline(services: Services, run: runs.Run, worker: str, *, sink: Sink | None = None,
                     modes: Sequence[str] = ()) -> Finished:
    """Execute a run this process just submitted (waiting its turn first if it was queued)."""
    if run.status == "pending":
        run = await claim_own(services, run, worker, services.notifier)
        if run.status != "running":  # cancelled while queued, or taken over by a worker
            return Finished(run=run, values={}, interrupts={})
    return await execute_run(services, run, worker, sink=sink, modes=modes)


async def start_run(services: Services, workflow: str, raw_input: Any, *, tenant: str, user: str,
                    thread_id: str | None = None, budget: BudgetOverride | None = None,
                    models: dict[str, str] | None = None) -> RunResult:
    """Start a workflow on a new thread and run it until it ends or waits for approval."""
    spec = services.workflow(workflow)
    payload = {"input": validate_input(spec, raw_input)}
    thread = await threads.create(services.pool, tenant=tenant, created_by=user, thread_id=thread_id,
                                  workflow=workflow, overrides=overrides(budget, models))
    worker = worker_id()
    run = await runs.submit(services.pool, thread_id=thread.thread_id, tenant=tenant, user=user, workflow=workflow,
                            payload=payload, worker=worker, lease_s=services.settings.run_lease_s)
    return RunResult.of(await run_inline(services, run, worker))


async def resume_run(services: Services, thread_id: str, raw_response: Any, *, tenant: str, user: str) -> RunResult:
    """Decide the approval a thread waits for (approve / edit / reject, as ``user``) and run on."""
    thread = await threads.get(services.pool, thread_id, tenant)
    if thread.workflow is None:
        raise InvalidRequest(f"thread {thread_id} has never run a workflow")
    worker = worker_id()
    run = await runs.submit(services.pool, thread_id=thread_id, tenant=tenant, user=user, workflow=thread.workflow,
                            payload={"command": {"resume": raw_response}}, worker=worker,
                            lease_s=services.settings.run_lease_s)
    return RunResult.of(await run_inline(services, run, worker))

