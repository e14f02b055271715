"""Human approval, in the shapes of langchain v1's human-in-the-loop middleware.

The interrupt payload is an :class:`ApprovalRequest` (``action_requests`` + ``review_configs``, plus Steward's
rule id, risk and reason); a run resumes with an :class:`ApprovalResponse` (``decisions``: approve, edit with
``edited_action``, or reject with an optional ``message``) and the decider's identity.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from steward.errors import Forbidden, InvalidRequest, parse_as

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


def parse_response(payload: Any) -> ApprovalResponse:
    """Validate a resume payload; the error says which field is wrong."""
    return parse_as(ApprovalResponse, payload, "resume must be {'decisions': [{'type': 'approve'} | {'type': "
                    "'edit', 'edited_action': {'name', 'args'}} | {'type': 'reject', 'message'?}]}")


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
            raise InvalidRequest(f"{decision.type!r} is not allowed for {action.name}; allowed: "
                                 f"{', '.join(config.allowed_decisions)}")
        if isinstance(decision, EditDecision) and decision.edited_action.name != action.name:
            raise InvalidRequest(
                f"an edit may change the arguments of {action.name}, not call {decision.edited_action.name}"
            )
    if not response.decided_by:
        raise InvalidRequest("the decision needs the decider's identity (decided_by)")
    if response.decided_by == request.requested_by and any(d.type != "reject" for d in response.decisions):
        raise Forbidden(f"{response.decided_by} requested this run and may not approve it (rejecting is allowed)")
