"""Human approval: interrupt shape, approve / edit / reject, restarts between pause and resume, and
exactly-once execution however often (or however concurrently) an approval is resumed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from decimal import Decimal

import pytest
from langgraph.types import Command

from steward import audit, operations
from steward.errors import Conflict, Forbidden, InvalidRequest
from steward.services import Services, StewardContext
from steward.threads import checkpoint_config
from tests.seeds import load_seed, refunds

APPROVE = {"decisions": [{"type": "approve"}]}


def steward(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "steward.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


async def add_ticket(services, tenant: str, ticket_id: str, body: str, customer: str = "C-1") -> None:
    ticket = {"id": ticket_id, "customer_id": customer, "subject": "Refund", "body": body}
    seed = {"tenant": tenant, "tickets": [ticket]}
    await load_seed(services, seed)


async def waiting_run(services, tenant: str, ticket: str = "T-BIG") -> operations.RunResult:
    result = await operations.start_run(services, "refund", {"ticket_id": ticket}, tenant=tenant, user="requester")
    assert result.status == "interrupted"
    return result


async def test_approval_survives_a_new_process_between_interrupt_and_resume(services, seeded, cli_env):
    started = steward(
        cli_env, "run", "refund", "--input", '{"ticket_id": "T-BIG"}', "--tenant", seeded, "--local", "grace"
    )
    assert started.returncode == 0, started.stderr
    paused = json.loads(started.stdout)
    request = paused["approval_request"]
    assert paused["status"] == "interrupted"
    assert request["action_requests"] == [
        {
            "name": "create_refund",
            "args": {
                "invoice_id": "INV-2",
                "customer_id": "C-2",
                "ticket_id": "T-BIG",
                "amount_usd": "120.00",
                "reason": "Cancelled in trial",
            },
            "description": request["action_requests"][0]["description"],
        }
    ]
    assert request["review_configs"] == [
        {"action_name": "create_refund", "allowed_decisions": ["approve", "edit", "reject"]}
    ]
    assert (request["rule_id"], request["risk"], request["requested_by"]) == (
        "refund.needs_approval",
        "high",
        "local:grace",
    )
    assert await refunds(services.pool, seeded) == []

    resumed = steward(
        cli_env,
        "resume",
        paused["thread_id"],
        "--decision",
        "approve",
        "--local",
        "maria",
        "--tenant",
        seeded,
        "--comment",
        "verified the trial dates",
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "completed"
    assert [r["amount_usd"] for r in await refunds(services.pool, seeded)] == [Decimal("120.00")]

    shown = steward(cli_env, "audit", paused["thread_id"], "--tenant", seeded)
    events = [json.loads(line) for line in shown.stdout.splitlines()]
    approvals = [(e["status"], e["detail"].get("decided_by")) for e in events if e["type"] == "approval"]
    assert approvals == [("requested", None), ("approve", "local:maria")]
    decided = next(e for e in events if e["status"] == "approve")
    assert decided["user_id"] == "local:maria" and decided["detail"]["comment"] == "verified the trial dates"
    assert events[-1]["type"] == "final" and events[-1]["status"] == "completed"


async def test_reject_ends_the_run_without_a_write(services, seeded):
    paused = await waiting_run(services, seeded)
    result = await operations.resume_run(
        services,
        paused.thread_id,
        {"decisions": [{"type": "reject", "message": "trial ended a week before"}]},
        tenant=seeded,
        user="maria",
    )

    assert (result.status, result.outcome.reason_code) == ("rejected", "approval.rejected")
    assert result.outcome.reason == "trial ended a week before"
    assert await refunds(services.pool, seeded) == []
    events = await audit.events_for(services.pool, paused.thread_id, seeded)
    assert [e["status"] for e in events if e["type"] == "approval"] == ["requested", "reject"]
    assert "create_refund" not in [e["tool"] for e in events if e["type"] == "tool_call"]


@pytest.mark.parametrize(
    ("edit", "written"),
    [
        ({"amount_usd": "40.00"}, [Decimal("40.00")]),
        ({"amount_usd": "100.00"}, [Decimal("100.00")]),
    ],
)
async def test_an_edit_goes_through_validation_and_policy_again(services, seeded, edit, written):
    await add_ticket(services, seeded, "T-300", "Please refund $300.00 on INV-3.")
    paused = await waiting_run(services, seeded, "T-300")

    result = await operations.resume_run(
        services,
        paused.thread_id,
        {"decisions": [{"type": "edit", "edited_action": {"name": "create_refund", "args": edit}}]},
        tenant=seeded,
        user="maria",
    )

    assert (result.status, result.outcome.reason_code) == ("completed", "refund.issued")
    assert [r["amount_usd"] for r in await refunds(services.pool, seeded)] == written
    events = await audit.events_for(services.pool, paused.thread_id, seeded)
    assert [e["status"] for e in events if e["type"] == "approval"] == ["requested", "edit"]
    gates = [e for e in events if e["step"] == "policy_gate" and e["type"] == "policy"]  # re-gated on the edit
    assert len(gates) == 2 and gates[1]["args"]["amount_usd"] == edit["amount_usd"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"amount_usd": "600.00"}, "policy refund.over_limit would deny it"),
        ({"amount_usd": "950.00"}, "policy refund.over_balance would deny it"),
        ({"amount_usd": "9000"}, "policy refund.over_balance would deny it"),
        ({"customer_id": "C-2"}, "policy refund.cross_customer would deny it"),
        ({"amount_usd": "-5"}, "amount_usd: Input should be greater than 0"),
        ({"amount_usd": "NaN"}, "amount_usd"),
        ({"amount_usd": {"$gt": 1}}, "amount_usd"),
        ({"amount_usd": 18446744073709551616}, "amount_usd"),
        ({"amount_usd": 1e308}, "amount_usd"),
    ],
)
async def test_a_bad_edit_is_refused_and_the_approval_stays_pending(services, seeded, edit, message):
    await add_ticket(services, seeded, "T-300", "Please refund $300.00 on INV-3.")
    paused = await waiting_run(services, seeded, "T-300")
    bad = {"decisions": [{"type": "edit", "edited_action": {"name": "create_refund", "args": edit}}]}

    with pytest.raises(InvalidRequest, match="the approval is still pending") as refused:
        await operations.resume_run(services, paused.thread_id, bad, tenant=seeded, user="maria")
    assert message in str(refused.value)
    assert (await operations.pending_request(services, paused.thread_id, seeded))["rule_id"] == "refund.needs_approval"
    fixed = await operations.resume_run(services, paused.thread_id, APPROVE, tenant=seeded, user="maria")
    assert fixed.status == "completed"
    assert [r["amount_usd"] for r in await refunds(services.pool, seeded)] == [Decimal("300.00")]


async def test_requester_may_not_approve_their_own_run(services, seeded):
    paused = await waiting_run(services, seeded)

    with pytest.raises(Forbidden, match="requester may not approve|may not approve"):
        await operations.resume_run(services, paused.thread_id, APPROVE, tenant=seeded, user="requester")
    state = await operations.pending_request(services, paused.thread_id, seeded)
    assert state is not None and await refunds(services.pool, seeded) == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"decisions": [{"type": "maybe"}]}, "decisions.0"),
        ({"decisions": []}, "decisions"),
        ({"decisions": [{"type": "approve"}, {"type": "approve"}]}, "one per action request"),
        ({"decisions": [{"type": "edit", "edited_action": {"name": "delete_customer", "args": {}}}]}, "not call"),
        ("approve", "decisions"),
    ],
)
async def test_malformed_decisions_are_refused_before_anything_runs(services, seeded, payload, message):
    paused = await waiting_run(services, seeded)

    with pytest.raises(InvalidRequest, match=message):
        await operations.resume_run(services, paused.thread_id, payload, tenant=seeded, user="maria")
    assert await refunds(services.pool, seeded) == []
    events = await audit.events_for(services.pool, paused.thread_id, seeded)
    assert events[-1]["status"] == "requested"


async def test_resuming_an_approved_run_twice_leaves_one_refund(services, seeded):
    paused = await waiting_run(services, seeded)
    first = await operations.resume_run(services, paused.thread_id, APPROVE, tenant=seeded, user="maria")

    with pytest.raises(Conflict, match="not waiting for an approval"):
        await operations.resume_run(services, paused.thread_id, APPROVE, tenant=seeded, user="maria")
    assert first.status == "completed"
    assert len(await refunds(services.pool, seeded)) == 1


async def test_two_approvers_at_once_from_two_processes_execute_once(services, seeded, settings):
    paused = await waiting_run(services, seeded)
    async with Services.open(settings) as other_process:
        outcomes = await asyncio.gather(
            operations.resume_run(services, paused.thread_id, APPROVE, tenant=seeded, user="maria"),
            operations.resume_run(other_process, paused.thread_id, APPROVE, tenant=seeded, user="omar"),
            return_exceptions=True,
        )

    completed = [o for o in outcomes if isinstance(o, operations.RunResult)]
    assert len(completed) == 1 and completed[0].status == "completed"
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1
    assert len(await refunds(services.pool, seeded)) == 1


async def test_system_of_record_deduplicates_even_when_the_thread_lock_is_bypassed(services, seeded, settings):
    """Two savers resume the same checkpoint concurrently (no lock): the idempotency key holds."""
    paused = await waiting_run(services, seeded)
    config = {**checkpoint_config(seeded, paused.thread_id), "run_id": str(uuid.uuid4())}
    resume = Command(resume={**APPROVE, "decided_by": "maria"})
    async with Services.open(settings) as other_process:
        results = await asyncio.gather(
            *(
                svc.graph("refund").ainvoke(
                    resume,
                    config,
                    context=StewardContext(tenant=seeded, thread_id=paused.thread_id, user="maria", services=svc),
                )
                for svc in (services, other_process)
            )
        )

    assert [r["outcome"]["status"] for r in results] == ["completed", "completed"]
    rows = await refunds(services.pool, seeded)
    assert len(rows) == 1 and {r["refund"]["id"] for r in results} == {rows[0]["id"]}
    events = await audit.events_for(services.pool, paused.thread_id, seeded)
    writes = [e["status"] for e in events if e["type"] == "tool_call" and e["tool"] == "create_refund"]
    assert sorted(writes) == ["deduplicated", "ok"]
