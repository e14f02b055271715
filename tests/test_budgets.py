"""Budgets end runs in a clean escalation with a reason code, never a loop, and never after a write."""

from __future__ import annotations

from decimal import Decimal

import pytest

from steward import audit, operations
from steward.budget import Budget, BudgetOverride, Usage
from tests.seeds import refunds


@pytest.mark.parametrize(
    ("budget", "reason_code", "stopped_at"),
    [
        ({"max_tool_calls": 2}, "budget.max_tool_calls", "execute"),
        ({"max_model_calls": 1}, "budget.max_model_calls", "propose"),
        ({"max_tokens": 50}, "budget.max_tokens", "propose"),
        ({"max_steps": 3}, "budget.max_steps", "validate"),
        ({"deadline_s": 0.001}, "budget.deadline_s", "lookup_invoice"),
    ],
)
async def test_exhausted_budget_escalates_with_its_reason(services, seeded, budget, reason_code, stopped_at):
    result = await operations.start_run(
        services,
        "refund",
        {"ticket_id": "T-AUTO"},
        tenant=seeded,
        user="ada",
        budget=BudgetOverride.model_validate(budget),
    )

    assert (result.status, result.outcome.reason_code) == ("escalated", reason_code)
    assert await refunds(services.pool, seeded) == []
    events = await audit.events_for(services.pool, result.thread_id, seeded)
    breach = next(e for e in events if e["rule_id"] == reason_code and e["type"] == "validator")
    assert breach["step"] == stopped_at
    assert events[-1]["type"] == "final" and events[-1]["rule_id"] == reason_code


async def test_budget_override_survives_the_approval_pause(services, seeded):
    paused = await operations.start_run(
        services, "refund", {"ticket_id": "T-BIG"}, tenant=seeded, user="grace", budget=BudgetOverride(max_tool_calls=2)
    )
    assert paused.status == "interrupted"

    result = await operations.resume_run(
        services, paused.thread_id, {"decisions": [{"type": "approve"}]}, tenant=seeded, user="maria"
    )

    assert result.outcome.reason_code == "budget.max_tool_calls"
    assert await refunds(services.pool, seeded) == []


def test_a_caller_can_only_tighten_a_budget():
    base = Budget(max_tool_calls=8, max_cost_usd=Decimal("0.25"))
    tightened = base.tightened(BudgetOverride(max_tool_calls=100, max_cost_usd=Decimal("0.01")))

    assert tightened.max_tool_calls == 8 and tightened.max_cost_usd == Decimal("0.01")


def test_cost_budget_trips_once_spend_reaches_it():
    budget = Budget(max_cost_usd=Decimal("0.01"))

    assert Usage(cost_usd=Decimal("0.009")).breach(budget, model=True) is None
    assert Usage(cost_usd=Decimal("0.01")).breach(budget, model=True).reason_code == "budget.max_cost_usd"
    assert Usage(cost_usd=Decimal("0.01")).breach(budget, tool=True) is None  # tools cost nothing


def test_usage_adds_up_field_by_field():
    total = Usage(steps=1, tool_calls=2, tokens=10, cost_usd=Decimal("0.1")) + Usage(
        steps=2, model_calls=1, elapsed_ms=5
    )
    assert total == Usage(steps=3, tool_calls=2, model_calls=1, tokens=10, cost_usd=Decimal("0.1"), elapsed_ms=5)
