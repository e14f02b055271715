"""How a run ends, and the exception a step raises to end it early."""

from __future__ import annotations

from pydantic import BaseModel

from steward.statuses import OutcomeStatus as Status


class Outcome(BaseModel):
    """The terminal state of a run: what happened and why, with a machine-readable reason code."""

    status: Status
    reason_code: str
    reason: str


class Halt(Exception):
    """Raised inside a governed step to end the run with an outcome (caught by the step wrapper)."""

    def __init__(self, status: Status, reason_code: str, reason: str) -> None:
        super().__init__(f"{status}: {reason_code}: {reason}")
        self.outcome = Outcome(status=status, reason_code=reason_code, reason=reason)


def escalate(reason_code: str, reason: str) -> Halt:
    """A halt that hands the case to a human (nothing more is attempted)."""
    return Halt("escalated", reason_code, reason)
