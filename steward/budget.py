"""Per-run budgets and the usage counted against them.

Usage lives in the graph state (summed by a reducer), so it survives interrupts and restarts. Wall-clock
time counts the time steps spend executing, not the hours a run may wait for a human.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field


class Budget(BaseModel):
    """Ceilings for one run. Reaching any of them escalates the run with reason ``budget.<field>``."""

    max_steps: int = Field(default=30, ge=1)
    max_tool_calls: int = Field(default=12, ge=0)
    max_model_calls: int = Field(default=6, ge=0)
    max_tokens: int = Field(default=40_000, ge=0)
    max_cost_usd: Decimal = Field(default=Decimal("0.50"), ge=0)
    deadline_s: float = Field(default=120.0, gt=0)

    def tightened(self, override: BudgetOverride | None) -> Budget:
        """This budget with any stricter values from ``override`` (a caller can only lower a budget)."""
        if override is None:
            return self
        lower = {k: min(v, getattr(self, k)) for k, v in override.model_dump(exclude_none=True).items()}
        return self.model_copy(update=lower)


class BudgetOverride(BaseModel):
    """Optional per-run limits; each applies only if it is stricter than the workflow's."""

    model_config = {"extra": "forbid"}

    max_steps: int | None = Field(default=None, ge=1)
    max_tool_calls: int | None = Field(default=None, ge=0)
    max_model_calls: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)
    max_cost_usd: Decimal | None = Field(default=None, ge=0)
    deadline_s: float | None = Field(default=None, gt=0)


class Breach(BaseModel):
    """A budget the next action would break: which limit, and its value."""

    limit: str
    value: Decimal | int | float

    @property
    def reason_code(self) -> str:
        """How the escalation names it: ``budget.<limit>``."""
        return f"budget.{self.limit}"


class Usage(BaseModel):
    """What a run has consumed so far."""

    steps: int = 0
    tool_calls: int = 0
    model_calls: int = 0
    tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    elapsed_ms: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields})

    def breach(self, budget: Budget, *, step: bool = False, tool: bool = False, model: bool = False) -> Breach | None:
        """The first budget the next action would break, or None."""
        checks = [
            (step and self.steps + 1 > budget.max_steps, "max_steps"),
            (tool and self.tool_calls + 1 > budget.max_tool_calls, "max_tool_calls"),
            (model and self.model_calls + 1 > budget.max_model_calls, "max_model_calls"),
            (model and self.tokens >= budget.max_tokens, "max_tokens"),
            (model and self.cost_usd > 0 and self.cost_usd >= budget.max_cost_usd, "max_cost_usd"),
            (self.elapsed_ms >= budget.deadline_s * 1000, "deadline_s"),
        ]
        return next((Breach(limit=name, value=getattr(budget, name)) for broken, name in checks if broken), None)


def add_usage(left: Usage | dict[str, Any], right: Usage | dict[str, Any]) -> dict[str, Any]:
    """Reducer for the ``usage`` channel: the sum, as a plain dict like every value Steward checkpoints (see
    :func:`steward.state.checkpointable`). Either side may be a :class:`Usage` or its dict."""
    return (Usage.model_validate(left) + Usage.model_validate(right)).model_dump()
