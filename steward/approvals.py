"""Human approval, in the shapes of langchain v1's human-in-the-loop middleware.

The interrupt payload is an :class:`ApprovalRequest` (``action_requests`` + ``review_configs``, plus Steward's
rule id, risk and reason); a run resumes with an :class:`ApprovalResponse` (``decisions``: approve, edit with
``edited_action``, or reject with an optional ``message``) and the decider's identity.

The quorum rule (policy ``require_approval`` with ``approvers = N``): the run asks again until N distinct people
have approved the same arguments. The requester never counts and may not approve; nobody counts twice; one
rejection ends the case; an edit changes the arguments, so the quorum restarts on them (the editor's edit is the
first approval of the edited arguments). Each decision is one interrupt and one resume, so each is audited once,
with its position in the quorum.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from steward.errors import Conflict, Forbidden, InvalidRequest, parse_as

DecisionType = Literal["approve", "edit", "reject"]


class ActionRequest(BaseModel):
    name: str
    args: dict[str, Any]
    description: str | None = None


class ReviewConfig(BaseModel):
    action_name: str
    allowed_decisions: list[DecisionType]


class ApprovalRequest(BaseModel):
    """What a human is asked to decide (the value of the LangGraph interrupt)."""

    action_requests: list[ActionRequest]
    review_configs: list[ReviewConfig]
    rule_id: str
    risk: str
    reason: str
    workflow: str
    requested_by: str
    approvers_required: int = Field(default=1, ge=1)
    """The quorum: distinct approvers needed for these arguments."""
    approved_by: list[str] = Field(default_factory=list)
    """Who has already approved these arguments (they may not approve again)."""
    owner: str | None = None
    """The team that owns the tool (from its contract)."""
    mode: str = "autopilot"
    """The operating mode the request was made in."""
    expires_at: datetime | None = None
    """After this a decision is refused and the run escalates with ``approval.expired`` (None: never)."""

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and (now or datetime.now(UTC)) >= self.expires_at


class ApproveDecision(BaseModel):
    type: Literal["approve"]


class EditedAction(BaseModel):
    name: str
    args: dict[str, Any]


class EditDecision(BaseModel):
    type: Literal["edit"]
    edited_action: EditedAction


class RejectDecision(BaseModel):
    type: Literal["reject"]
    message: str | None = None


Decision = Annotated[ApproveDecision | EditDecision | RejectDecision, Field(discriminator="type")]


class ApprovalResponse(BaseModel):
    """The resume value: one decision per action request, and who decided."""

    decisions: list[Decision] = Field(min_length=1)
    decided_by: str | None = Field(default=None, min_length=1, max_length=200)
    comment: str | None = Field(default=None, max_length=2000)


class Approval(BaseModel):
    """A decision as recorded in the run's state."""

    type: DecisionType
    decided_by: str
    action: str
    args: dict[str, Any]
    message: str | None = None
    comment: str | None = None
    decided_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    approvers: list[str] = Field(default_factory=list)
    """Everyone whose approval of exactly these arguments this one carries (the quorum met)."""


def parse_response(payload: Any) -> ApprovalResponse:
    """Validate a resume payload; the error says which field is wrong."""
    return parse_as(
        ApprovalResponse,
        payload,
        "resume must be {'decisions': [{'type': 'approve'} | {'type': "
        "'edit', 'edited_action': {'name', 'args'}} | {'type': 'reject', 'message'?}]}",
    )


def check_response(request: ApprovalRequest, response: ApprovalResponse) -> None:
    """Refuse a decision the request does not allow, or an approval by the run's own requester."""
    if len(response.decisions) != len(request.action_requests):
        raise InvalidRequest(
            f"expected {len(request.action_requests)} decision(s), one per action request;"
            f" got {len(response.decisions)}"
        )
    for decision, action, config in zip(
        response.decisions, request.action_requests, request.review_configs, strict=True
    ):
        if decision.type not in config.allowed_decisions:
            raise InvalidRequest(
                f"{decision.type!r} is not allowed for {action.name}; allowed: {', '.join(config.allowed_decisions)}"
            )
        if isinstance(decision, EditDecision) and decision.edited_action.name != action.name:
            raise InvalidRequest(
                f"an edit may change the arguments of {action.name}, not call {decision.edited_action.name}"
            )
    if request.expired():
        raise Conflict(
            f"this approval request expired at {request.expires_at:%Y-%m-%d %H:%M:%S} UTC;"
            " the run escalates with approval.expired"
        )
    if not response.decided_by:
        raise InvalidRequest("the decision needs the decider's identity (decided_by)")
    approving = any(d.type != "reject" for d in response.decisions)
    if response.decided_by == request.requested_by and approving:
        raise Forbidden(f"{response.decided_by} requested this run and may not approve it (rejecting is allowed)")
    if response.decided_by in request.approved_by and approving:
        raise Forbidden(
            f"{response.decided_by} already approved this request; approval"
            f" {len(request.approved_by) + 1} of {request.approvers_required} must come from someone else"
        )
