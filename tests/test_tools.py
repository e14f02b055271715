"""Tool contracts in code: input/output models, caps, timeouts, retries (reads only), idempotent writes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
import pytest
from pydantic import BaseModel

from graphs import WORKFLOWS
from steward import audit, operations
from steward.contracts import RetryPolicy, ToolContext, tool_contract
from steward.tool_calls import invoke_tool as execute
from steward.tool_errors import (
    CapabilityExceeded,
    IdempotencyConflict,
    RecordNotFound,
    ToolInputError,
    ToolOutputInvalid,
    ToolTimeout,
    ToolUnavailable,
)
from tests.seeds import load_seed, refunds

TOOLS = {spec.name: spec for spec in WORKFLOWS["refund"].tools}


def ctx(services, tenant: str, key: str | None = None) -> ToolContext:
    return ToolContext(pool=services.pool, tenant=tenant, thread_id="th-test", idempotency_key=key)


def refund_args(amount: str, invoice: str = "INV-3", customer: str = "C-1") -> dict[str, Any]:
    return {
        "invoice_id": invoice,
        "customer_id": customer,
        "ticket_id": "T-AUTO",
        "amount_usd": amount,
        "reason": "test",
    }


async def fault(services, tenant: str, tool: str, mode: str, times: int = 1) -> None:
    seed = {"tenant": tenant, "faults": [{"tool": tool, "mode": mode, "times": times}]}
    await load_seed(services, seed)


def test_every_contract_declares_its_governance_fields():
    assert set(TOOLS) >= {"get_ticket", "lookup_invoice", "create_refund", "get_refund"}
    refund = TOOLS["create_refund"].describe()
    assert refund | {"timeout_s": 0} == {
        "name": "create_refund",
        "version": "1.0.0",
        "kind": "write",
        "scope": "billing:refunds:write",
        "risk": "high",
        "owner": "billing-platform",
        "timeout_s": 0,
        "retry_attempts": 1,
        "caps": {"max_amount_usd": "1000.00"},
        "rate_per_minute": None,
        "cache_ttl_s": None,
    }
    assert all(spec.kind == "read" and spec.retry.attempts > 1 for n, spec in TOOLS.items() if n != "create_refund")


class In(BaseModel):
    x: int


def test_a_write_cannot_be_declared_with_retries():
    with pytest.raises(ValueError, match="never retried"):

        @tool_contract(
            name="unsafe_write",
            version="1",
            kind="write",
            scope="s",
            risk="high",
            owner="o",
            output=In,
            timeout_s=1,
            retry=RetryPolicy(attempts=3),
        )
        async def unsafe_write(args: In, ctx: ToolContext) -> dict[str, Any]:
            return {}


async def test_refund_cap_is_enforced_whatever_the_caller_says(services, seeded):
    await load_seed(
        services, {"tenant": seeded, "invoices": [{"id": "INV-BIG", "customer_id": "C-1", "amount_usd": "5000.00"}]}
    )

    with pytest.raises(CapabilityExceeded, match="max_amount_usd=1000.00"):
        await execute(TOOLS["create_refund"], refund_args("1500.00", "INV-BIG"), ctx(services, seeded, "k1"))
    assert await refunds(services.pool, seeded) == []


async def test_invalid_arguments_name_the_field(services, seeded):
    with pytest.raises(ToolInputError, match="amount_usd"):
        await execute(TOOLS["create_refund"], refund_args("-1"), ctx(services, seeded, "k1"))
    with pytest.raises(ToolInputError, match="ticket_id"):
        await execute(TOOLS["get_ticket"], {}, ctx(services, seeded))


async def test_system_of_record_refuses_more_than_the_open_balance(services, seeded):
    with pytest.raises(ToolInputError, match="unrefunded balance 59.00"):
        await execute(TOOLS["create_refund"], refund_args("60.00", "INV-1"), ctx(services, seeded, "k1"))


async def test_idempotency_key_replays_and_conflicts(services, seeded):
    first = await execute(TOOLS["create_refund"], refund_args("10.00"), ctx(services, seeded, "same-key"))
    again = await execute(TOOLS["create_refund"], refund_args("10.00"), ctx(services, seeded, "same-key"))

    assert (first.output.deduplicated, again.output.deduplicated) == (False, True)
    assert again.output.id == first.output.id
    with pytest.raises(IdempotencyConflict, match=first.output.id):
        await execute(TOOLS["create_refund"], refund_args("11.00"), ctx(services, seeded, "same-key"))
    assert [r["amount_usd"] for r in await refunds(services.pool, seeded)] == [Decimal("10.00")]


async def test_write_without_key_is_refused(services, seeded):
    with pytest.raises(ToolInputError, match="idempotency key"):
        await execute(TOOLS["create_refund"], refund_args("10.00"), ctx(services, seeded))


async def test_flaky_read_succeeds_on_retry(services, seeded):
    await fault(services, seeded, "lookup_invoice", "error", times=2)

    result = await execute(TOOLS["lookup_invoice"], {"invoice_id": "INV-1"}, ctx(services, seeded))

    assert result.attempts == 3 and result.output.amount_usd == Decimal("59.00")


async def test_read_that_keeps_failing_gives_up_after_its_attempts(services, seeded):
    await fault(services, seeded, "lookup_invoice", "error", times=5)

    with pytest.raises(ToolUnavailable, match="503"):
        await execute(TOOLS["lookup_invoice"], {"invoice_id": "INV-1"}, ctx(services, seeded))


async def test_hung_backend_hits_the_contract_timeout(services, seeded):
    await fault(services, seeded, "get_refund", "timeout", times=3)

    with pytest.raises(ToolTimeout, match="no answer within 2.0s"):
        await execute(TOOLS["get_refund"], {"refund_id": "RF-1"}, ctx(services, seeded))


async def test_garbage_output_is_a_tool_error_not_model_input(services, seeded):
    await fault(services, seeded, "get_ticket", "invalid_output")

    with pytest.raises(ToolOutputInvalid, match="does not match Ticket"):
        await execute(TOOLS["get_ticket"], {"ticket_id": "T-AUTO"}, ctx(services, seeded))


async def test_missing_record_is_reported_as_such(services, seeded):
    with pytest.raises(RecordNotFound, match="INV-404"):
        await execute(TOOLS["lookup_invoice"], {"invoice_id": "INV-404"}, ctx(services, seeded))


async def test_workflow_escalates_on_invalid_tool_output(services, seeded):
    await fault(services, seeded, "lookup_invoice", "invalid_output")

    result = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")

    assert (result.status, result.outcome.reason_code) == ("escalated", "tool.invalid_output")
    assert await refunds(services.pool, seeded) == []
    failed = [e for e in await audit.events_for(services.pool, result.thread_id, seeded) if e["status"] == "error"]
    assert [(e["tool"], e["rule_id"]) for e in failed] == [("lookup_invoice", "tool.invalid_output")]


async def test_workflow_completes_through_a_flaky_read(services, seeded):
    await fault(services, seeded, "get_ticket", "error", times=1)

    result = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")

    assert result.status == "completed"
    events = await audit.events_for(services.pool, result.thread_id, seeded)
    ticket_call = next(e for e in events if e["type"] == "tool_call" and e["tool"] == "get_ticket")
    assert ticket_call["detail"]["attempts"] == 2


async def test_a_run_asks_once_which_tools_have_faults(services, seeded, monkeypatch):
    await fault(services, seeded, "get_refund", "error", times=1)  # a read: retried, so the run completes
    asked: list[str] = []
    execute = psycopg.AsyncCursor.execute

    async def spying(self, query, *args, **kwargs):
        if "sandbox.faults" in str(query):
            asked.append(str(query).split()[0])
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", spying)
    result = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")

    assert result.status == "completed"
    # which tools have faults (at the first of the run's four tool calls), then get_refund's two attempts only
    assert asked == ["SELECT", "UPDATE", "UPDATE"]
    events = await audit.events_for(services.pool, result.thread_id, seeded)
    assert next(e for e in events if e["tool"] == "get_refund" and e["type"] == "tool_call")["detail"]["attempts"] == 2
