"""State fields every governed workflow shares; a workflow's state subclasses :class:`GovernedState`.

A governed workflow proposes one write at a time (``action``), asks the policy (``verdict``) and, when the
verdict says so, people (``approval``). :func:`after_gate` and :func:`after_approval` route on these fields, so
every workflow's gate and approval edges mean the same thing; a workflow names its own nodes with a path map.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from langgraph.graph import StateGraph
from pydantic import BaseModel, Field

from steward.approvals import Approval
from steward.budget import Usage, add_usage
from steward.outcome import Outcome
from steward.verdict import PolicyVerdict


def checkpointable(value: Any) -> Any:
    """``value`` as a node's state update hands it to LangGraph: pydantic models as plain dicts (their fields'
    Decimals, datetimes and UUIDs stay, which LangGraph's serializer reads back without an allowlist), containers
    walked. So checkpoints hold no application types: any LangGraph version, strict deserialization included (the
    announced default, and ``LANGGRAPH_STRICT_MSGPACK`` now), and any server (``langgraph dev``) reads them back,
    and the graph's state schema turns them into models again when a node reads its state."""
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, dict):
        return {key: checkpointable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [checkpointable(item) for item in value]
    return value


def first_value(current: str | None, new: str | None) -> str | None:
    """Reducer: the first value written stays."""
    return current if current is not None else new


class ProposedAction(BaseModel):
    """A write the agent proposes: the tool and its arguments (after an edit, the approver's version)."""

    name: str
    args: dict[str, Any]


class GovernedState(BaseModel):
    outcome: Outcome | None = None
    """How the run ended (completed / escalated / denied / rejected / shadowed); None while it runs or waits."""
    response: str | None = None
    """The message for the person who asked (set by the final step)."""
    requested_by: str | None = None
    """Who started the run (an approver may not be the same person)."""
    usage: Annotated[Usage, add_usage] = Field(default_factory=Usage)
    """Steps, tool and model calls, tokens, cost and time consumed, summed across steps."""
    trajectory: Annotated[list[str], operator.add] = Field(default_factory=list)
    """Every tool the run executed, in order."""
    action: ProposedAction | None = None
    """The write being decided (after an edit, the approver's version)."""
    verdict: PolicyVerdict | None = None
    """The policy's verdict on ``action`` (None again after an edit, until the edit is re-checked)."""
    approval: Approval | None = None
    """The latest human decision on ``action``, carrying everyone who approved exactly these arguments."""
    mode: Annotated[str | None, first_value] = None
    """The operating mode the run started in (pinned by its first step, and never changed after, even by steps
    that start in parallel; see :mod:`steward.controls`)."""
    approval_expires_at: datetime | None = None
    """When the approval request for ``action`` expires (fixed when people are first asked, from the policy of
    that moment; None: never)."""


class OutcomeView(BaseModel):
    """What :func:`proceed_to` routes on. A router's annotation is what LangGraph reads for it: the fields named
    here, not the whole state (reading and validating every field of a workflow's state for each edge cost ~4% of
    a refund run's CPU)."""

    outcome: Outcome | None = None


class GateView(OutcomeView):
    """What :func:`after_gate` and :func:`after_approval` route on (see :class:`OutcomeView`)."""

    verdict: PolicyVerdict | None = None
    approval: Approval | None = None


def proceed_to(next_node: str, end: str = "respond") -> Callable[[OutcomeView], Awaitable[str]]:
    """Router: continue to ``next_node`` unless the run already has an outcome (then to ``end``). Routers are
    ``async def`` though they never wait: LangGraph runs a plain function in a thread pool (a hand-off to a thread
    and back for every edge taken)."""

    async def route(state: OutcomeView) -> str:
        return end if state.outcome else next_node

    route.__name__ = f"to_{next_node}"
    return route


def add_gate_edges(
    builder: StateGraph[Any, Any, Any, Any],
    *,
    act: str,
    revalidate: str,
    gate: str = "policy_gate",
    approval: str = "approval",
    end: str = "respond",
) -> None:
    """Wire a workflow's policy gate and approval nodes the way every governed workflow routes them:
    ``gate`` → ``act`` | ``approval`` | ``end``; ``approval`` → ``act`` | ``approval`` (next approver) |
    ``revalidate`` (an edit) | ``end``."""
    builder.add_conditional_edges(gate, after_gate, {"allow": act, "approval": approval, "end": end})
    builder.add_conditional_edges(
        approval, after_approval, {"allow": act, "approval": approval, "revalidate": revalidate, "end": end}
    )


def quorum_met(state: GateView) -> bool:
    """Whether enough distinct people approved the action's current arguments for the verdict in force."""
    approval, verdict = state.approval, state.verdict
    return (
        approval is not None
        and verdict is not None
        and approval.type != "reject"
        and len(set(approval.approvers)) >= verdict.approvers
    )


Route = Literal["allow", "approval", "revalidate", "end"]


async def after_gate(state: GateView) -> Route:
    """After the policy gate: ``end`` (an outcome is set), ``allow`` (allowed, or approved by a quorum), else
    ``approval``."""
    if state.outcome:
        return "end"
    if state.verdict is not None and (state.verdict.verdict == "allow" or quorum_met(state)):
        return "allow"
    return "approval"


async def after_approval(state: GateView) -> Route:
    """After a human decision: ``end``, ``revalidate`` (an edit: validation and policy see it first), ``allow``
    (the quorum is met), else ``approval`` again (the next approver)."""
    if state.outcome:
        return "end"
    if state.verdict is None:
        return "revalidate"
    return "allow" if quorum_met(state) else "approval"
