"""The control layer around one graph node: every tool call, model call and check goes through a ``Step``.

A governed node is written as ``async def node(state, step) -> dict`` and wrapped with :func:`governed`.
The ``Step`` it receives enforces the budget before each call, asks the policy engine before each tool
call, runs tools under their contracts, prices model calls, and records an audit event for each action.
Raising :class:`steward.outcome.Halt` (or any error the step converts into one) ends the run cleanly.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar, overload

import httpx
import openai
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import BaseModel, ValidationError

from steward import audit, limits, metrics, tracing
from steward.approvals import (
    ActionRequest,
    Approval,
    ApprovalRequest,
    EditDecision,
    RejectDecision,
    ReviewConfig,
    check_response,
    parse_response,
)
from steward.audit import AuditEvent, AuditScope
from steward.budget import Budget, Usage
from steward.contracts import Out, ToolContext, ToolSpec
from steward.errors import StewardError
from steward.outcome import Halt, Outcome, escalate
from steward.services import Services, StewardContext
from steward.state import GovernedState, ProposedAction, checkpointable
from steward.tape import Tape, Unrecorded
from steward.tool_calls import ToolResult, invoke_tool, parse_args
from steward.tool_errors import RecordNotFound, ToolError
from steward.verdict import PolicyVerdict

M = TypeVar("M", bound=BaseModel)


MODEL_TIMEOUTS = (TimeoutError, httpx.TimeoutException, openai.APITimeoutError)
"""What a model call that ran out of time raises (asyncio, the HTTP client, the OpenAI client)."""


def idempotency_key(workflow: str, tenant: str, thread_id: str, tool: str, action: str) -> str:
    """The idempotency key of a write: the same workflow, tenant, thread, tool and action always give the same."""
    raw = f"{workflow}:{tenant}:{thread_id}:{tool}:{action}"
    return "idem-" + hashlib.sha256(raw.encode()).hexdigest()[:32]


class Step:
    """Governed access to tools and models for one execution of one node."""

    def __init__(
        self, name: str, workflow: str, budget: Budget, state: Any, runtime: Runtime[StewardContext], services: Services
    ) -> None:
        context = runtime.context or StewardContext()
        info = runtime.execution_info
        self.name, self.workflow, self.services = name, workflow, services
        self.tenant, self.user, self.model_overrides = context.tenant, context.user, context.models
        self.thread_id: str = context.thread_id or (
            info.thread_id if info is not None and info.thread_id else "no-thread"
        )
        self.run_id = str(info.run_id) if info and info.run_id else None
        self.budget = budget.tightened(context.budget)
        self.before: Usage = state.usage
        self.delta = Usage()
        self.events: list[AuditEvent] = []
        self.trajectory: list[str] = []
        self.stream = runtime.stream_writer
        self.tape: Tape | None = context.tape
        self._mode_in_force: str | None = getattr(state, "mode", None)
        """The run's mode: pinned in its state by its first step, so a mode change applies to runs started after
        it (but ``shadow`` also stops the writes of runs in flight: see :meth:`call_tool`)."""
        self._started = time.perf_counter()

    # -- budget ---------------------------------------------------------------------------------------------
    def _check_budget(self, *, step: bool = False, tool: bool = False, model: bool = False) -> None:
        breach = (self.before + self.delta).breach(self.budget, step=step, tool=tool, model=model)
        if breach:
            code = breach.reason_code
            self.record("validator", "failed", rule_id=code, reason=f"budget {code} ({breach.value}) reached")
            raise escalate(code, f"The run reached its {breach.limit} budget ({breach.value}).")

    async def check_spend(self) -> None:
        """Escalate before this step if the tenant reached a daily spend cap (runs in flight stop here)."""
        if self.tape is not None:
            return
        if (cap := await self.services.switchboard.cap_reached(self.tenant, self.workflow)) is not None:
            self.record("validator", "failed", rule_id="control.spend_cap", reason=cap)
            raise escalate("control.spend_cap", cap)

    # -- audit ----------------------------------------------------------------------------------------------
    def record(self, type_: audit.EventType, status: str, **fields: Any) -> None:
        """Add an audit event for this step (written when the step ends), and count it in the metrics."""
        self.events.append(AuditEvent(step=self.name, type=type_, status=status, **fields))
        if self.tape is None:
            metrics.count_event(self.workflow, self.tenant, type_, status, **fields)
            tracing.record_event(
                {"type": type_, "status": status, **fields},
                {"steward.tenant": self.tenant, "steward.workflow": self.workflow, "steward.run_id": self.run_id},
            )
        self.stream({"step": self.name, "event": type_, "status": status})

    async def flush(self) -> None:
        if self.tape is not None:  # a replay writes nothing: its events stay on the tape
            self.tape.replayed.extend(self.events)
        elif self.events:
            scope = AuditScope(self.run_id, self.thread_id, self.tenant, self.user, self.workflow)
            if not audit.record(scope, self.events):  # no run buffer: write now
                await audit.append(self.services.pool, scope, self.events)
        self.events = []

    def _unrecorded(self, exc: Unrecorded) -> Halt:
        self.record("validator", "failed", rule_id="replay.unrecorded", reason=str(exc))
        return escalate("replay.unrecorded", str(exc))

    # -- tools ----------------------------------------------------------------------------------------------
    def _spec(self, tool: str) -> ToolSpec:
        declared = self.services.workflow(self.workflow)
        spec = declared.tool(tool)
        if spec is None:
            self.record("policy", "deny", tool=tool, decision="deny", rule_id="policy.unknown_tool")
            raise Halt("denied", "policy.unknown_tool", f"{tool} is not a tool of the {self.workflow} workflow")
        if spec.scope not in declared.scopes:
            reason = f"{tool} needs scope {spec.scope}, which the {self.workflow} workflow is not granted"
            self.record("policy", "deny", tool=tool, decision="deny", rule_id="policy.scope_not_granted", reason=reason)
            raise Halt("denied", "policy.scope_not_granted", reason)
        return spec

    def _tool_context(self, idempotency_key: str | None = None, approval: Approval | None = None) -> ToolContext:
        approvers = tuple(approval.approvers) if approval is not None else ()
        return ToolContext(self.services.pool, self.tenant, self.thread_id, self.run_id, idempotency_key, approvers)

    def idempotency_key(self, tool: str, action: str) -> str:
        """Key of a write: the same thread and action always give the same key."""
        return idempotency_key(self.workflow, self.tenant, self.thread_id, tool, action)

    async def check_policy(
        self, tool: str, args: dict[str, Any] | BaseModel, *, action: str | None = None
    ) -> tuple[PolicyVerdict, BaseModel]:
        """Ask the policy engine about a proposed call without executing it (audited as a ``policy`` event).

        Args:
            tool: a tool name the workflow declares.
            args: the proposed arguments.
            action: as in :meth:`call_tool`.

        Returns:
            The verdict (after the operating mode: ``suggest`` turns an allowed write into ``require_approval``)
            and the validated arguments.

        Raises:
            Halt: ``denied`` for a tool the workflow does not declare, ``escalated`` for invalid arguments.
        """
        _, parsed, _, verdict = await self._gate(tool, args, action)
        return verdict, parsed

    async def _gate(
        self, tool: str, args: dict[str, Any] | BaseModel, action: str | None
    ) -> tuple[ToolSpec, BaseModel, str | None, PolicyVerdict]:
        """Validate the args, gather the facts and decide; returns what executing the call needs too."""
        spec = self._spec(tool)
        try:
            parsed = parse_args(spec, args)
        except ToolError as exc:
            self.record("validator", "failed", tool=tool, rule_id=exc.code, reason=exc.message)
            raise escalate(exc.code, exc.message) from None
        key = self.idempotency_key(tool, action or tool) if spec.kind == "write" else None
        started = time.perf_counter()
        if spec.facts is None or spec.facts_model is None:
            facts = {}
        elif self.tape is not None:
            try:
                facts = spec.facts_model.model_validate(self.tape.facts_for(tool)).model_dump()
            except Unrecorded as exc:
                raise self._unrecorded(exc) from None
        else:
            facts = (await spec.facts(parsed, self._tool_context(key))).model_dump()
        verdict = self.services.policy(self.workflow).decide(
            tool=tool,
            kind=spec.kind,
            args=parsed.model_dump(),
            facts=facts,
            ctx={"tenant": self.tenant, "user": self.user, "workflow": self.workflow},
        )
        mode = await self._mode()
        verdict.mode = mode
        if mode == "suggest" and spec.kind == "write" and verdict.verdict == "allow":
            verdict = verdict.model_copy(
                update={
                    "verdict": "require_approval",
                    "rule_id": "mode.suggest",
                    "reason": f"{self.workflow} runs in suggest mode: every write"
                    f" needs a human approval ({verdict.reason})",
                }
            )
        self.record(
            "policy",
            verdict.verdict,
            tool=tool,
            tool_version=spec.version,
            args=parsed.model_dump(mode="json"),
            decision=verdict.verdict,
            rule_id=verdict.rule_id,
            reason=verdict.reason,
            latency_ms=(time.perf_counter() - started) * 1000,
            detail={  # a read's empty facts and the one-approver quorum are left out: {} and 1 when absent
                **({"facts": facts} if facts else {}),
                "policy_version": verdict.policy_version,
                "risk": spec.risk,
                "mode": mode,
                **({"approvers": verdict.approvers} if verdict.approvers != 1 else {}),
            },
        )
        return spec, parsed, key, verdict

    @staticmethod
    def _approves(approval: Approval | None, spec: ToolSpec, parsed: BaseModel, verdict: PolicyVerdict) -> bool:
        """Whether ``approval`` covers exactly this call with as many distinct approvers as the verdict needs."""
        if approval is None or approval.type == "reject" or approval.action != spec.name:
            return False
        if len(set(approval.approvers)) < verdict.approvers:
            return False
        try:
            return parse_args(spec, approval.args).model_dump() == parsed.model_dump()
        except ToolError:
            return False

    def check(self, problems: Sequence[tuple[str, str]], *, args: dict[str, Any] | None = None) -> None:
        """Record a validation (``ok``, or ``failed`` with the problems) and escalate on the first problem's
        reason code. ``problems`` are ``(reason code, explanation)`` pairs; empty means the check passed."""
        self.record(
            "validator", "failed" if problems else "ok", args=args, detail={"problems": [text for _, text in problems]}
        )
        if problems:
            raise escalate(problems[0][0], "; ".join(text for _, text in problems))

    def finish(
        self, state: GovernedState, outcome: Outcome, response: str, *, input_model: type[BaseModel], version: str
    ) -> dict[str, Any]:
        """The final node's update: the outcome and the requester's message, with the run's final audit event
        (usage, trajectory, the input as given and the workflow version, which a replay starts from)."""
        self.record(
            "final",
            outcome.status,
            rule_id=outcome.reason_code,
            reason=outcome.reason,
            detail={
                "usage": (state.usage + self.delta).model_dump(mode="json"),
                "trajectory": state.trajectory,
                "workflow_version": version,
                "input": state.model_dump(mode="json", include=set(input_model.model_fields)),
            },
        )
        return {"outcome": outcome, "response": response}

    # -- approvals ------------------------------------------------------------------------------------------
    async def gate(self, action: ProposedAction | None, *, approval: Approval | None = None) -> dict[str, Any]:
        """Ask the policy about a proposed write, as a state update: ``verdict``, plus a ``denied`` outcome, and
        an ``approval requested`` audit event when people must decide and have not yet."""
        if action is None:
            raise ValueError("the gate needs the state's proposed action (the node proposing it runs first)")
        verdict, _ = await self.check_policy(action.name, action.args)
        if self.tape is None and await self._mode() == "shadow":
            return {
                "verdict": verdict,
                "outcome": Outcome(
                    status="shadowed",
                    reason_code="mode.shadow",
                    reason=f"shadow mode: {action.name} would be {verdict.verdict}"
                    f" ({verdict.rule_id}: {verdict.reason}); nothing was written",
                ),
            }
        if verdict.verdict == "deny":
            return {
                "verdict": verdict,
                "outcome": Outcome(status="denied", reason_code=verdict.rule_id, reason=verdict.reason),
            }
        if verdict.verdict == "require_approval" and approval is None:
            self.record(
                "approval",
                "requested",
                tool=action.name,
                args=action.args,
                rule_id=verdict.rule_id,
                reason=verdict.reason,
                detail={"approvers_required": verdict.approvers, "mode": await self._mode()},
            )
            expiry = self.services.policy(self.workflow).approval_expiry_s
            expires = datetime.now(UTC) + timedelta(seconds=expiry) if expiry else None
            return {"verdict": verdict, "approval_expires_at": expires}
        return {"verdict": verdict}

    def approval_request(self, state: GovernedState, description: str) -> ApprovalRequest:
        """The request people see for the state's proposed write (quorum so far included)."""
        action, verdict, previous = state.action, state.verdict, state.approval
        if action is None or verdict is None:
            raise ValueError("an approval request needs the state's proposed action and its verdict (run the gate)")
        spec = self._spec(action.name)
        return ApprovalRequest(
            action_requests=[ActionRequest(name=action.name, args=action.args, description=description)],
            review_configs=[ReviewConfig(action_name=action.name, allowed_decisions=["approve", "edit", "reject"])],
            rule_id=verdict.rule_id,
            risk=spec.risk,
            reason=verdict.reason,
            workflow=self.workflow,
            requested_by=state.requested_by or "unknown",
            approvers_required=verdict.approvers,
            approved_by=list(previous.approvers) if previous and previous.type != "reject" else [],
            owner=spec.owner,
            mode=verdict.mode or "autopilot",
            expires_at=state.approval_expires_at,
        )

    def ask_approval(self, request: ApprovalRequest) -> dict[str, Any]:
        """Pause for one human decision on ``request`` (a LangGraph interrupt) and record it, as a state update.

        An approval adds its decider to the quorum of these arguments; an edit replaces the arguments and starts
        their quorum with the editor (``verdict`` is cleared so validation and policy see the edit first); a
        rejection ends the run. A decision that cannot count (malformed, or someone deciding twice) is recorded
        and the same request is asked again.
        """
        raw = interrupt(request.model_dump(mode="json"))
        action = request.action_requests[0]
        if self.tape is None and request.expired():  # a replay sees the decision that came in time
            self.record(
                "approval",
                "expired",
                tool=action.name,
                args=action.args,
                rule_id="approval.expired",
                reason=f"nobody decided before {request.expires_at:%Y-%m-%d %H:%M:%S} UTC",
            )
            raise escalate("approval.expired", f"the approval request for {action.name} expired unanswered")
        try:
            response = parse_response(raw)
            response.decided_by = response.decided_by or self.user
            check_response(request, response)
        except StewardError as exc:
            self.record("approval", "invalid", tool=action.name, reason=str(exc))
            return {}
        decision = response.decisions[0]
        edited = isinstance(decision, EditDecision)
        args = {**action.args, **decision.edited_action.args} if edited else action.args
        approvers = [response.decided_by] if edited else [*request.approved_by, response.decided_by]
        message = decision.message if isinstance(decision, RejectDecision) else None
        position = f"{len(approvers)} of {request.approvers_required}" if decision.type != "reject" else None
        self.record(
            "approval",
            decision.type,
            tool=action.name,
            args=args,
            rule_id=request.rule_id,
            detail={
                "decided_by": response.decided_by,
                "message": message,
                "comment": response.comment,
                "quorum": position,
                "approvers": approvers if decision.type != "reject" else [],
            },
        )
        if decision.type == "reject":
            raise Halt("rejected", "approval.rejected", message or f"rejected by {response.decided_by}")
        record = Approval(
            type=decision.type,
            decided_by=response.decided_by,
            action=action.name,
            args=args,
            comment=response.comment,
            approvers=approvers,
        )
        if edited:
            return {"approval": record, "action": ProposedAction(name=action.name, args=args), "verdict": None}
        return {"approval": record}

    @overload
    async def call_tool(
        self,
        tool: ToolSpec[Out],
        args: dict[str, Any] | BaseModel,
        *,
        approval: Approval | None = None,
        action: str | None = None,
        missing_ok: Literal[False] = False,
    ) -> Out: ...

    @overload
    async def call_tool(
        self,
        tool: ToolSpec[Out],
        args: dict[str, Any] | BaseModel,
        *,
        approval: Approval | None = None,
        action: str | None = None,
        missing_ok: Literal[True],
    ) -> Out | None: ...

    @overload
    async def call_tool(
        self,
        tool: str,
        args: dict[str, Any] | BaseModel,
        *,
        approval: Approval | None = None,
        action: str | None = None,
        missing_ok: bool = False,
    ) -> Any: ...

    async def call_tool(
        self,
        tool: ToolSpec[Any] | str,
        args: dict[str, Any] | BaseModel,
        *,
        approval: Approval | None = None,
        action: str | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """Gate, execute and record one tool call of this workflow.

        The budget is checked, the arguments validated against the tool's input model, the policy asked with the
        system of record's facts, and (for a write) the operating mode and kill switches consulted and an intent
        committed to the audit trail before the tool runs under its contract (caps, timeout, retries for reads,
        output model, idempotency key). A read with a cache TTL may be served from the cache; a tool with a rate
        limit waits for the tenant's next token while the run's deadline allows.

        Args:
            tool: a contract the workflow declares (then the result has its output type), or its name (the name is
                what the workflow's allowlist and policy check either way).
            args: the arguments, as a dict or the tool's input model.
            approval: the human approval a ``require_approval`` verdict needs: it must cover exactly these
                arguments with as many distinct approvers as the verdict asks.
            action: names the write within the thread for its idempotency key (default: the tool's name).
            missing_ok: return None instead of escalating when the record does not exist.

        Returns:
            The tool's validated output model (None when missing and ``missing_ok``).

        Raises:
            Halt: the run ends: ``denied`` (policy, unknown tool, kill switch), ``escalated`` (budget, invalid
                arguments, missing approval, tool errors, ``control.rate_limited``) or ``shadowed`` (shadow mode).
                The node wrapper turns it into the run's outcome.
        """
        tool = tool if isinstance(tool, str) else tool.name
        self._check_budget(tool=True)
        spec, parsed, key, verdict = await self._gate(tool, args, action)
        if verdict.verdict == "deny":
            raise Halt("denied", verdict.rule_id, verdict.reason)
        if verdict.verdict == "require_approval" and not self._approves(approval, spec, parsed, verdict):
            raise escalate(
                "policy.approval_missing", f"{tool} needs {verdict.approvers} approval(s) of exactly these arguments"
            )
        if spec.kind == "write" and self.tape is None:
            if "shadow" in (await self._mode(), await self._mode_now()):
                self.record(
                    "tool_call",
                    "shadowed",
                    tool=tool,
                    tool_version=spec.version,
                    args=parsed.model_dump(mode="json"),
                    rule_id="mode.shadow",
                )
                raise Halt(
                    "shadowed",
                    "mode.shadow",
                    f"shadow mode: {tool} would be {verdict.verdict} ({verdict.rule_id}); nothing was written",
                )
            await self._check_kill_switch(spec, parsed)
        event = {"tool": tool, "tool_version": spec.version, "args": parsed.model_dump(mode="json")}
        if spec.cache_ttl_s and (hit := await self._cached(spec, event)) is not None:
            return hit
        if spec.rate_per_minute and self.tape is None:
            await self._take_token(spec, event)
        started = time.perf_counter()
        self.delta.tool_calls += 1
        self.trajectory.append(tool)
        if spec.kind == "write" and self.tape is None:
            await self._announce(spec, event, key)
        try:
            result = await self._execute(spec, parsed, key, approval)
        except Unrecorded as exc:
            raise self._unrecorded(exc) from None
        except RecordNotFound as exc:
            self.record(
                "tool_call",
                "not_found",
                **event,
                reason=exc.message,
                rule_id=exc.code,
                latency_ms=(time.perf_counter() - started) * 1000,
            )
            if missing_ok:
                return None
            raise escalate(exc.code, exc.message) from None
        except ToolError as exc:
            self.record(
                "tool_call",
                "error",
                **event,
                reason=exc.message,
                rule_id=exc.code,
                latency_ms=(time.perf_counter() - started) * 1000,
            )
            raise escalate(exc.code, exc.message) from None
        status = "deduplicated" if getattr(result.output, "deduplicated", False) else "ok"
        if spec.cache_ttl_s and self.tape is None:
            await limits.remember(
                self.services.pool,
                self.tenant,
                tool,
                spec.version,
                event["args"],
                result.output.model_dump(mode="json"),
                spec.cache_ttl_s,
            )
        self.record(
            "tool_call",
            status,
            **event,
            latency_ms=result.latency_ms,
            detail={
                "output": result.output.model_dump(mode="json"),
                "attempts": result.attempts,
                **({"idempotency_key": key} if key is not None else {}),  # reads have none
            },
        )
        return result.output

    async def _cached(self, spec: ToolSpec, event: dict[str, Any]) -> BaseModel | None:
        """A cached read's output (counted and audited as a ``cached`` call), or None on a miss. A replay is
        served from the cache exactly where the original run was."""
        started = time.perf_counter()
        if self.tape is not None:
            hit = self.tape.cached_output(spec.name)
        else:
            hit = await limits.cached(self.services.pool, self.tenant, spec.name, spec.version, event["args"])
        if hit is None:
            return None
        self.delta.tool_calls += 1
        self.trajectory.append(spec.name)
        latency = (time.perf_counter() - started) * 1000
        self.record("tool_call", "cached", **event, latency_ms=latency, detail={"output": hit, "attempts": 0})
        return spec.output_model.model_validate(hit)

    async def _take_token(self, spec: ToolSpec, event: dict[str, Any]) -> None:
        """Wait for the tenant's rate limit of ``spec`` while the run's deadline allows; else escalate with
        ``control.rate_limited``."""
        while wait := await limits.take_token(self.services.pool, self.tenant, spec.name, spec.rate_per_minute or 1):
            left = self.budget.deadline_s - self.before.elapsed_ms / 1000 - (time.perf_counter() - self._started)
            if wait > left:
                reason = (
                    f"{spec.name} is limited to {spec.rate_per_minute} calls a minute for tenant {self.tenant};"
                    f" the next call is possible in {wait:.1f}s, after the run's deadline"
                )
                self.record("tool_call", "rate_limited", **event, rule_id="control.rate_limited", reason=reason)
                raise escalate("control.rate_limited", reason)
            await asyncio.sleep(wait)

    async def _mode(self) -> str:
        """The run's operating mode: the one pinned when it started, else the one in force now."""
        if self._mode_in_force is None:
            self._mode_in_force = await self._mode_now()
        return self._mode_in_force

    async def _mode_now(self) -> str:
        """The workflow's operating mode for this tenant as operators set it now."""
        declared = self.services.workflow(self.workflow).mode
        return await self.services.switchboard.mode(self.tenant, self.workflow, declared)

    async def _check_kill_switch(self, spec: ToolSpec, parsed: BaseModel) -> None:
        """Deny a write an operator switched off (checked now, at execution: runs in flight stop too)."""
        switch = await self.services.switchboard.fired(self.tenant, self.workflow, spec.name)
        if switch is not None:
            self.record(
                "policy",
                "deny",
                tool=spec.name,
                args=parsed.model_dump(mode="json"),
                decision="deny",
                rule_id="control.kill_switch",
                reason=switch.describe(),
                detail={"switch": switch.model_dump(mode="json")},
            )
            raise Halt("denied", "control.kill_switch", switch.describe())

    async def _announce(self, spec: ToolSpec, event: dict[str, Any], key: str | None) -> None:
        """Commit an ``intent`` event (after the step's events so far, the policy verdict among them) before a
        write runs, with everything the run holds (a durable point: :mod:`steward.checkpoint`): if the process dies
        between the write and the end of its step, the trail still shows what was about to be written and why it
        was allowed, and the retry continues from the state before this step (and then records the outcome)."""
        intent = AuditEvent(
            step=self.name,
            type="intent",
            status="executing",
            **event,
            detail={"idempotency_key": key, "owner": spec.owner},
        )
        scope = AuditScope(self.run_id, self.thread_id, self.tenant, self.user, self.workflow)
        if audit.record(scope, [*self.events, intent]):  # the step's decisions so far too
            await self.services.checkpointer.flush(store_next=True)  # a durable point, and the step after it
        else:
            await audit.append(self.services.pool, scope, [*self.events, intent])
        self.events = []

    async def _execute(self, spec: ToolSpec, args: BaseModel, key: str | None, approval: Approval | None) -> ToolResult:
        if self.tape is None:
            return await invoke_tool(spec, args, self._tool_context(key, approval))
        return ToolResult(
            output=spec.output_model.model_validate(self.tape.output_of(spec.name)), attempts=1, latency_ms=0.0
        )

    # -- models ---------------------------------------------------------------------------------------------
    async def ask_model(self, tier: str, *, system: str, prompt: str, schema: type[M]) -> M:
        """Ask a tier's model for a structured answer: it must call ``schema`` as a tool.

        Args:
            tier: ``small``, ``medium`` or ``large`` (routed by settings and the run's overrides).
            system: the instructions.
            prompt: the data (untrusted text belongs here, marked as data).
            schema: the pydantic model the answer must validate as.

        Returns:
            The validated answer; tokens and cost are added to the run's usage and audited.

        Raises:
            Halt: ``escalated`` with ``model.unavailable``, ``model.timeout``, ``model.error`` or
                ``model.invalid_output``, or a budget code when the model-call, token or cost budget is spent.
        """
        self._check_budget(model=True)
        if self.tape is not None and not self.tape.live_model:
            return self._recorded_answer(tier, schema)
        provider = self.services.models.provider(tier, self.model_overrides)
        try:
            model = self.services.models.answering_with(provider, schema)
        except ValueError as exc:  # e.g. an openai: override with no key configured
            self.record(
                "model_call",
                "error",
                rule_id="model.unavailable",
                reason=str(exc),
                detail={"tier": tier, "provider": provider},
            )
            raise escalate("model.unavailable", str(exc)) from None
        started = time.perf_counter()
        self.delta.model_calls += 1
        base = {"detail": {"tier": tier, "provider": provider}}
        try:
            reply = await model.ainvoke([SystemMessage(system), HumanMessage(prompt)])
        except Exception as exc:  # provider errors: network, HTTP status, timeout after retries
            code = "model.timeout" if isinstance(exc, MODEL_TIMEOUTS) else "model.error"
            self.record(
                "model_call",
                "error",
                **base,
                rule_id=code,
                reason=f"{type(exc).__name__}: {exc}"[:500],
                latency_ms=(time.perf_counter() - started) * 1000,
            )
            where = self.services.models.endpoint(provider)
            at = f" ({provider} at {where})" if where else f" ({provider})"
            raise escalate(code, f"the {tier} model{at} failed: {type(exc).__name__}") from None
        usage = reply.usage_metadata or {"input_tokens": 0, "output_tokens": 0}
        model_name = provider.removeprefix("openai:") if provider.startswith("openai:") else provider.split(":")[0]
        cost = self.services.models.cost(model_name, usage["input_tokens"], usage["output_tokens"])
        self.delta.tokens += usage["input_tokens"] + usage["output_tokens"]
        self.delta.cost_usd += cost
        calls = [c for c in reply.tool_calls if c["name"] == schema.__name__]
        fields = dict(
            latency_ms=(time.perf_counter() - started) * 1000,
            tokens_in=usage["input_tokens"],
            tokens_out=usage["output_tokens"],
            cost_usd=cost,
        )
        detail: dict[str, Any] = base["detail"]
        detail |= {"model": model_name, "response": calls[0]["args"] if calls else reply.text}
        try:
            answer = schema.model_validate(calls[0]["args"]) if calls else None
        except ValidationError as exc:
            answer, detail["errors"] = None, exc.errors(include_url=False, include_context=False)
        if answer is None:
            self.record("model_call", "invalid_output", **base, **fields, rule_id="model.invalid_output")
            raise escalate("model.invalid_output", f"the {tier} model did not answer with a valid {schema.__name__}")
        self.record("model_call", "ok", **base, **fields)
        return answer

    def _recorded_answer(self, tier: str, schema: type[M]) -> M:
        """A replay's model call: the recorded answer (or the recorded failure) of the original run."""
        if self.tape is None:
            raise ValueError("a recorded answer needs a replay's tape")
        try:
            recorded = self.tape.model_answer()
        except Unrecorded as exc:
            raise self._unrecorded(exc) from None
        self.delta.model_calls += 1
        detail = {k: recorded["detail"].get(k) for k in ("tier", "provider", "model", "response")}
        if recorded["status"] != "ok":
            self.record("model_call", recorded["status"], rule_id=recorded["rule_id"], detail=detail)
            raise escalate(recorded["rule_id"], f"the {tier} model failed (recorded)")
        self.record("model_call", "ok", detail=detail)
        return schema.model_validate(recorded["detail"]["response"])


NodeFn = Callable[[Any, Step], Awaitable[dict[str, Any] | None]]


def governed(
    workflow: str, budget: Budget, *, enforce_budget: bool = True
) -> Callable[[NodeFn], Callable[..., Awaitable[dict[str, Any]]]]:
    """Turn ``async def node(state, step)`` into a LangGraph node that runs under a :class:`Step`.

    Args:
        workflow: the workflow's name (its declaration, policy and tools are looked up by it).
        budget: the workflow's budget; a run's context may only tighten it.
        enforce_budget: False for the final node, which must always run to record how the run ended.

    Returns:
        A decorator. The node it makes returns the function's state update plus the step's usage and
        trajectory; a :class:`~steward.outcome.Halt` raised inside becomes ``{"outcome": ...}``; the step's audit
        events are written when it ends, whatever happened.
    """

    def wrap(fn: NodeFn) -> Callable[..., Awaitable[dict[str, Any]]]:
        name: str = getattr(fn, "__name__", "node")

        async def node(state: Any, runtime: Runtime[StewardContext]) -> dict[str, Any]:
            context = runtime.context or StewardContext()
            services = context.services or await default_services()
            step = Step(name, workflow, budget, state, runtime, services)
            started = time.perf_counter()
            pin = {"mode": await step._mode()} if isinstance(state, GovernedState) and state.mode is None else {}
            attributes = {"steward.node": name, "steward.workflow": workflow, "steward.tenant": step.tenant}
            with tracing.span(f"node {name}", attributes) as node_span:
                try:
                    if enforce_budget:
                        step._check_budget(step=True)
                        await step.check_spend()
                    update = await fn(state, step) or {}
                except Halt as halt:
                    update = {"outcome": halt.outcome}
                    node_span.set_attribute("steward.outcome", halt.outcome.status)
                finally:
                    await step.flush()
            step.delta.steps += 1
            step.delta.elapsed_ms += (time.perf_counter() - started) * 1000
            return checkpointable({**pin, **update, "usage": step.delta, "trajectory": step.trajectory})

        node.__name__ = node.__qualname__ = name
        node.__doc__ = fn.__doc__
        return node

    return wrap


_default: dict[str, Any] = {}
_default_lock = asyncio.Lock()


async def default_services() -> Services:
    """Services for runs started without Steward's runner (e.g. ``langgraph dev``): opened once per process
    from the environment's settings and kept for its lifetime."""
    async with _default_lock:
        if "services" not in _default:
            _default["manager"] = Services.open()
            _default["services"] = await _default["manager"].__aenter__()
    return _default["services"]
