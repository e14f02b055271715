"""What people and clients do with workflows: start a run, decide an approval. Used by the CLI and the server.

Every client mistake raises a :class:`steward.errors.StewardError` before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from steward import runs, threads
from steward.approvals import ApprovalRequest, EditDecision, parse_response
from steward.budget import BudgetOverride
from steward.contracts import ToolContext
from steward.errors import InvalidRequest, OverLimit, Unavailable, parse_as
from steward.executor import Finished, Sink, claim_own, execute_run, worker_id
from steward.outcome import Outcome
from steward.services import Services
from steward.settings import MODEL_TIERS, check_provider
from steward.statuses import Result
from steward.step import idempotency_key
from steward.tool_calls import parse_args
from steward.tool_errors import ToolError
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
        pending = runs.pending_interrupts(finished.interrupts)
        outcome = values.get("outcome")
        status = (
            "interrupted"
            if pending
            else "error"
            if run.status == "error"
            else outcome["status"]
            if outcome
            else "completed"
        )
        return cls(
            thread_id=run.thread_id,
            run_id=run.run_id,
            workflow=run.workflow,
            tenant=run.tenant,
            status=status,
            outcome=None if pending else outcome,
            approval_request=pending[0]["value"] if pending else None,
            response=values.get("response"),
            usage=values.get("usage"),
            error=run.error,
        )


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
    pending = runs.pending_interrupts(thread.interrupts)
    return pending[0]["value"] if pending else None


def overrides(budget: BudgetOverride | None, models: dict[str, str] | None) -> dict[str, Any]:
    """Thread overrides as stored: a stricter budget and tier routing for every run of the thread."""
    return {
        "budget": budget.model_dump(mode="json", exclude_none=True) if budget else None,
        "models": check_model_overrides(models or {}),
    }


async def run_inline(
    services: Services, run: runs.Run, worker: str, *, sink: Sink | None = None, modes: Sequence[str] = ()
) -> Finished:
    """Execute a run this process just submitted (waiting its turn first if it was queued)."""
    if run.status == "pending":
        run = await claim_own(services, run, worker, services.notifier)
        if run.status != "running":  # cancelled while queued, or taken over by a worker
            return Finished(run=run, values={}, interrupts={})
    return await execute_run(services, run, worker, sink=sink, modes=modes)


async def start_run(
    services: Services,
    workflow: str,
    raw_input: Any,
    *,
    tenant: str,
    user: str,
    thread_id: str | None = None,
    budget: BudgetOverride | None = None,
    models: dict[str, str] | None = None,
    sink: Sink | None = None,
    modes: Sequence[str] = (),
) -> RunResult:
    """Start a workflow on a new thread and run it until it ends or waits for approval (streaming ``modes`` to
    ``sink`` as it goes, when given)."""
    spec = services.workflow(workflow)
    payload = {"input": validate_input(spec, raw_input)}
    await refuse_if_stopped(services, tenant, workflow)
    thread = await threads.create(
        services.pool,
        tenant=tenant,
        created_by=user,
        thread_id=thread_id,
        workflow=workflow,
        overrides=overrides(budget, models),
    )
    worker = worker_id()
    run = await runs.submit(
        services.pool,
        thread_id=thread.thread_id,
        tenant=tenant,
        user=user,
        workflow=workflow,
        payload=payload,
        worker=worker,
        lease_s=services.settings.run_lease_s,
    )
    return RunResult.of(await run_inline(services, run, worker, sink=sink, modes=modes))


def approval_summary(thread: threads.Thread, workflow: Workflow | None = None) -> dict[str, Any]:
    """A waiting approval as an inbox row: what, why, who asked, how long ago, the quorum so far, when it expires,
    and (with the ``workflow``) the JSON schema of the action's arguments, for an edit form."""
    pending = runs.pending_interrupts(thread.interrupts)
    request = pending[0]["value"]
    action = request["action_requests"][0]
    spec = workflow.tool(action["name"]) if workflow is not None else None
    return {
        "thread_id": thread.thread_id,
        "workflow": thread.workflow,
        "interrupt_id": pending[0]["id"],
        "action": action["name"],
        "args": action["args"],
        "description": action.get("description"),
        "allowed_decisions": request["review_configs"][0]["allowed_decisions"],
        "rule_id": request["rule_id"],
        "risk": request["risk"],
        "reason": request["reason"],
        "requested_by": request["requested_by"],
        "owner": request.get("owner"),
        "quorum": {
            "required": request.get("approvers_required", 1),
            "approved_by": request.get("approved_by", []),
            "approved": len(request.get("approved_by", [])),
        },
        "mode": request.get("mode"),
        "expires_at": request.get("expires_at"),
        "args_schema": spec.args_schema if spec is not None else None,
        "waiting_since": thread.updated_at,
        "age_s": round((datetime.now(UTC) - thread.updated_at).total_seconds(), 1),
    }


async def pending_approvals(
    services: Services, tenant: str, *, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    """The tenant's waiting approval requests, oldest first (what ``/approvals`` and ``steward approvals`` list)."""
    waiting = await threads.search(
        services.pool,
        tenant,
        status="interrupted",
        limit=limit,
        offset=offset,
        sort_by="updated_at",
        sort_order="asc",
        with_values=False,
    )
    return [
        approval_summary(thread, services.catalog.get(thread.workflow or "")) for thread in waiting if thread.interrupts
    ]


async def refuse_if_stopped(services: Services, tenant: str, workflow: str) -> None:
    """Refuse a new run of a workflow an operator switched off for this tenant (503 with the reason), or of a
    tenant that reached its daily spend cap (429 with the cap)."""
    if (switch := await services.switchboard.fired(tenant, workflow)) is not None:
        raise Unavailable(f"{workflow} takes no new runs: {switch.describe()}")
    if (cap := await services.switchboard.cap_reached(tenant, workflow)) is not None:
        raise OverLimit(f"{workflow} takes no new runs today: {cap}")


async def check_edit(services: Services, thread: threads.Thread, raw_response: Any, user: str) -> None:
    """Refuse, before anything is queued or run, an edit whose arguments fail the tool's input model or that the
    policy would deny outright: the approval stays pending, so the approver can correct it (422 names the field,
    or the rule and its reason)."""
    response = parse_response(raw_response)
    pending = runs.pending_interrupts(thread.interrupts)
    if thread.workflow is None or not pending:
        return  # nothing to edit: submitting says so
    request = ApprovalRequest.model_validate(pending[0]["value"])
    workflow = services.workflow(thread.workflow)
    for decision, action in zip(response.decisions, request.action_requests, strict=False):
        if not isinstance(decision, EditDecision) or (spec := workflow.tool(action.name)) is None:
            continue
        try:
            parsed = parse_args(spec, {**action.args, **decision.edited_action.args})
        except ToolError as exc:
            raise InvalidRequest(f"the edit is refused: {exc.message}; the approval is still pending") from None
        key = idempotency_key(workflow.name, thread.tenant, thread.thread_id, spec.name, spec.name)
        context = ToolContext(services.pool, thread.tenant, thread.thread_id, idempotency_key=key)
        facts = (await spec.facts(parsed, context)).model_dump() if spec.facts else {}
        verdict = services.policy(workflow.name).decide(
            tool=spec.name,
            kind=spec.kind,
            args=parsed.model_dump(),
            facts=facts,
            ctx={"tenant": thread.tenant, "user": user, "workflow": workflow.name},
        )
        if verdict.verdict == "deny":
            raise InvalidRequest(
                f"the edit is refused: policy {verdict.rule_id} would deny it ({verdict.reason});"
                " the approval is still pending"
            )


async def resume_run(services: Services, thread_id: str, raw_response: Any, *, tenant: str, user: str) -> RunResult:
    """Decide the approval a thread waits for (approve / edit / reject, as ``user``) and run on."""
    thread = await threads.get(services.pool, thread_id, tenant)
    if thread.workflow is None:
        raise InvalidRequest(f"thread {thread_id} has never run a workflow")
    await check_edit(services, thread, raw_response, user)
    worker = worker_id()
    run = await runs.submit(
        services.pool,
        thread_id=thread_id,
        tenant=tenant,
        user=user,
        workflow=thread.workflow,
        payload={"command": {"resume": raw_response}},
        worker=worker,
        lease_s=services.settings.run_lease_s,
    )
    return RunResult.of(await run_inline(services, run, worker))
