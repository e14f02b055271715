"""State fields every governed workflow shares; a workflow's state subclasses :class:`GovernedState`."""

from __future__ import annotations

import operator
from typing import Annotated

from pydantic import BaseModel, Field

from steward.budget import Usage, add_usage
from steward.outcome import Outcome


class GovernedState(BaseModel):
    outcome: Outcome | None = None
    """How the run ended (completed / escalated / denied / rejected); None while it runs or waits."""
    response: str | None = None
    """The message for the person who asked (set by the final step)."""
    requested_by: str | None = None
    """Who started the run (an approver may not be the same person)."""
    usage: Annotated[Usage, add_usage] = Field(default_factory=Usage)
    """Steps, tool and model calls, tokens, cost and time consumed, summed across steps."""
    trajectory: Annotated[list[str], operator.add] = Field(default_factory=list)
    """Every tool the run executed, in order."""
