"""The refund workflow end to end on real Postgres: outcomes, system-of-record state and audit trails."""

from __future__ import annotations

from decimal import Decimal

import pytest

from steward import audit, operations
from tests.seeds import refunds


async def trail(services, result) -> list[dict]:
    return await audit.events_for(services.pool, result.thread_id, result.tenant)


async def test_small_refund_is_auto_approved_written_and_verified(services, seeded):
    result = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")

    assert result.status == "completed"
    assert result.outcome.reason_code == "refund.issued"
    rows = await refunds(services.pool, seeded)
    assert [(r["invoice_id"], r["amount_usd"], r["ticket_id"]) for r in rows] == [("INV-1", Decimal("38.50"), "T-AUTO")]
    assert rows[0]["thread_id"] == result.thread_id
    assert "38.50" in result.response

    events = await trail(services, result)
    assert [e["step"] for e in events if e["type"] == "tool_call"] == ["intake", "lookup_invoice", "execute", "verify"]
    gate = next(e for e in events if e["step"] == "policy_gate")
    assert (gate["decision"], gate["rule_id"]) == ("allow", "refund.auto_small")
    assert gate["detail"]["facts"]["unrefunded_balance_usd"] == "59.00"
    models = [e for e in events if e["type"] == "model_call"]
    assert len(models) == 2 and all(e["tokens"] > 0 and e["latency_ms"] is not None for e in models)
    assert all(e["thread_id"] == result.thread_id and e["tenant"] == seeded for e in events)
    final = events[-1]
    assert (final["type"], final["status"], final["rule_id"]) == ("final", "completed", "refund.issued")
    assert final["detail"]["trajectory"] == ["get_ticket", "lookup_invoice", "create_refund", "get_refund"]


async def test_full_refund_request_refunds_the_open_balance(services, seeded):
    result = await operations.start_run(services, "refund", {"ticket_id": "T-FULL"}, tenant=seeded, user="ada")

    assert result.status == "completed"
    assert [r["amount_usd"] for r in await refunds(services.pool, seeded)] == [Decimal("45.00")]


@pytest.mark.parametrize(
    ("ticket", "rule"),
    [
        ("T-OVERBAL", "refund.over_balance"),
        ("T-XCUST", "refund.cross_customer"),
        ("T-XTENANT", "refund.invoice_other_tenant"),
        ("T-UNKNOWN", "refund.invoice_unknown"),
        ("T-600", "refund.over_limit"),
    ],
)
async def test_policy_denials_write_nothing_and_name_the_rule(services, seeded, ticket, rule):
    result = await operations.start_run(services, "refund", {"ticket_id": ticket}, tenant=seeded, user="ada")

    assert (result.status, result.outcome.reason_code) == ("denied", rule)
    assert await refunds(services.pool, seeded) == []
    events = await trail(services, result)
    gate = next(e for e in events if e["type"] == "policy" and e["tool"] == "create_refund")
    assert (gate["decision"], gate["rule_id"]) == ("deny", rule)
    assert "create_refund" not in [e["tool"] for e in events if e["type"] == "tool_call"]
    assert (events[-1]["status"], events[-1]["rule_id"]) == ("denied", rule)


async def test_injected_ticket_asking_for_5000_is_denied(services, seeded):
    result = await operations.start_run(services, "refund", {"ticket_id": "T-INJECT"}, tenant=seeded, user="ada")

    assert result.status == "denied"
    assert result.outcome.reason_code == "refund.over_balance"
    assert await refunds(services.pool, seeded) == []
    gate = next(e for e in await trail(services, result) if e["step"] == "policy_gate")
    assert "ignore_instructions" in gate["detail"]["facts"]["ticket_injection_markers"]


async def test_injected_ticket_within_limits_still_needs_a_human(services, seeded):
    result = await operations.start_run(services, "refund", {"ticket_id": "T-INJECT-SMALL"}, tenant=seeded, user="ada")

    assert result.status == "interrupted"
    assert result.approval_request["rule_id"] == "refund.untrusted_text"
    assert await refunds(services.pool, seeded) == []


@pytest.mark.parametrize(("ticket", "missing"), [("T-NOINV", "missing invoice_id"), ("T-TWOAMT", "several amounts")])
async def test_incomplete_or_ambiguous_requests_escalate_with_what_is_missing(services, seeded, ticket, missing):
    result = await operations.start_run(services, "refund", {"ticket_id": ticket}, tenant=seeded, user="ada")

    assert result.status == "escalated"
    assert result.outcome.reason_code == "validation.missing"
    assert missing in result.outcome.reason
    assert await refunds(services.pool, seeded) == []
    validator = next(e for e in await trail(services, result) if e["type"] == "validator")
    assert validator["status"] == "failed" and any(missing in p for p in validator["detail"]["problems"])


async def test_unknown_ticket_escalates(services, seeded):
    result = await operations.start_run(services, "refund", {"ticket_id": "T-NOPE"}, tenant=seeded, user="ada")

    assert (result.status, result.outcome.reason_code) == ("escalated", "tool.not_found")


async def test_other_tenants_ticket_is_invisible(services, seeded, tenant):
    result = await operations.start_run(
        services, "refund", {"ticket_id": "T-AUTO"}, tenant=f"{tenant}-neighbour", user="mallory"
    )

    assert (result.status, result.outcome.reason_code) == ("escalated", "tool.not_found")
    assert await refunds(services.pool, seeded) == []


async def test_second_request_for_the_same_ticket_is_denied_as_duplicate(services, seeded):
    first = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")
    second = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")

    assert first.status == "completed"
    assert (second.status, second.outcome.reason_code) == ("denied", "refund.duplicate")
    assert len(await refunds(services.pool, seeded)) == 1
