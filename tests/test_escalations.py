"""Approval expiry and the escalation queue: runs degrade into a per-tenant lane people take and close."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from steward import audit, escalations, operations, runs
from steward.approvals import ApprovalRequest, ApprovalResponse, check_response
from steward.errors import Conflict
from steward.executor import execute_run
from tests.seeds import refunds
from tools.policy import shipped

APPROVE = {"decisions": [{"type": "approve"}]}


@pytest.fixture
def expiring(services):
    """The services with refund approvals expiring after half a second."""
    policy = shipped("refund").load().model_copy(update={"approval_expiry_s": 0.5})
    return services.with_policy("refund", policy)


async def expired_run(services, thread_id: str, tenant: str) -> runs.Run:
    """Queue the expiry of the thread's request (unless a served instance's sweeper did already) and execute it
    here (unless that instance's workers take it first); returns the run once it ended."""
    await runs.expire_approvals(services.pool, limit=1000)
    for _ in range(200):
        [latest] = await runs.list_for_thread(services.pool, thread_id, tenant, limit=1)
        if latest.payload.get("command") and latest.status in runs.TERMINAL:
            return latest
        if latest.status == "pending" and (mine := await runs.claim(services.pool, "test", 30.0, latest.run_id)):
            return (await execute_run(services, mine, "test")).run
        await asyncio.sleep(0.05)
    raise AssertionError("the expiry run never ended")


def test_a_decision_on_an_expired_request_is_refused_saying_so():
    request = ApprovalRequest(
        action_requests=[{"name": "create_refund", "args": {}}],
        review_configs=[{"action_name": "create_refund", "allowed_decisions": ["approve"]}],
        rule_id="refund.needs_approval",
        risk="high",
        reason="r",
        workflow="refund",
        requested_by="grace",
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    response = ApprovalResponse(decisions=[{"type": "approve"}], decided_by="maria")
    with pytest.raises(Conflict, match="expired at .* UTC; the run escalates with approval.expired"):
        check_response(request, response)


async def test_an_unanswered_approval_expires_and_escalates(expiring, services, seeded):
    paused = await operations.start_run(expiring, "refund", {"ticket_id": "T-BIG"}, tenant=seeded, user="grace")
    request = paused.approval_request
    assert request["expires_at"] is not None and request["mode"] == "autopilot"
    await asyncio.sleep(0.6)

    # a late decision is refused: saying it expired, or (if the served instance's sweeper got there first, as it
    # may at any moment now) that the thread is busy closing the request or no longer waits for a decision
    with pytest.raises(Conflict, match="expired at .* approval.expired|is not waiting for an approval|is busy with"):
        await operations.resume_run(services, paused.thread_id, APPROVE, tenant=seeded, user="maria")
    ended = await expired_run(expiring, paused.thread_id, seeded)

    assert ended.outcome["status"] == "escalated" and ended.outcome["reason_code"] == "approval.expired"
    assert await refunds(services.pool, seeded) == []
    events = await audit.events_for(services.pool, paused.thread_id, seeded)
    assert [e["status"] for e in events if e["type"] == "approval"] == ["requested", "expired"]
    queue = await escalations.page(services.pool, seeded)
    assert [(i.thread_id, i.reason_code) for i in queue] == [(paused.thread_id, "approval.expired")]


async def test_a_request_answered_in_time_does_not_expire(services, seeded):
    minute = services.with_policy("refund", shipped("refund").load().model_copy(update={"approval_expiry_s": 60}))
    paused = await operations.start_run(minute, "refund", {"ticket_id": "T-BIG"}, tenant=seeded, user="grace")
    assert paused.thread_id not in await runs.expire_approvals(services.pool, limit=1000)
    done = await operations.resume_run(minute, paused.thread_id, APPROVE, tenant=seeded, user="maria")
    assert done.status == "completed"


async def test_the_queue_is_per_tenant_ordered_paged_and_worked_through_the_api(server, api_keys, services, seeded):
    started = [  # escalated, escalated, denied by a rule (not queued)
        await operations.start_run(services, "refund", {"ticket_id": ticket}, tenant=seeded, user="grace")
        for ticket in ("T-NOINV", "T-TWOAMT", "T-UNKNOWN")
    ]
    assert [r.status for r in started] == ["escalated", "escalated", "denied"]
    other = f"{seeded}-elsewhere"
    await operations.start_run(services, "refund", {"ticket_id": "T-NOINV"}, tenant=other, user="eve")

    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["approver"]}) as approver:
        first = (await approver.get("/escalations", params={"limit": 1})).json()
        second = (await approver.get("/escalations", params={"limit": 1, "offset": 1})).json()
        assert [i["thread_id"] for i in first + second] == [r.thread_id for r in started[:2]]  # oldest first
        assert [i["reason_code"] for i in first + second] == [r.outcome.reason_code for r in started[:2]]
        assert len((await approver.get("/escalations")).json()) == 2  # the denial and the other tenant's: absent
        item = first[0]
        detail = (await approver.get(f"/escalations/{item['id']}")).json()
        assert detail["audit"][-1]["type"] == "final" and detail["audit"][-1]["rule_id"] == item["reason_code"]

        taken = (await approver.post(f"/escalations/{item['id']}/take")).json()
        assert (taken["status"], taken["assignee"]) == ("taken", f"{seeded}-approver") and taken["age_s"] >= 0
        noted = (await approver.post(f"/escalations/{item['id']}/notes", json={"text": "called the customer"})).json()
        assert noted["notes"][0]["text"] == "called the customer"
        closed = await approver.post(f"/escalations/{item['id']}/close", json={"resolution": "refunded by hand"})
        assert closed.json()["status"] == "closed" and closed.json()["closed_by"] == f"{seeded}-approver"
        again = await approver.post(f"/escalations/{item['id']}/take")
        assert again.status_code == 409 and "refunded by hand" in again.json()["detail"]
        assert [i["id"] for i in (await approver.get("/escalations")).json()] == [second[0]["id"]]
        assert (await approver.get("/escalations", params={"status": "closed"})).json()[0]["id"] == item["id"]
        assert (await approver.post(f"/escalations/{item['id']}/close", json={})).status_code == 422

        elsewhere = (await escalations.page(services.pool, other))[0]
        assert (await approver.get(f"/escalations/{elsewhere.id}")).status_code == 404
        assert (await approver.post(f"/escalations/{elsewhere.id}/take")).status_code == 404
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["runner"]}) as runner:
        assert (await runner.get("/escalations")).status_code == 403


def test_the_cli_works_the_queue(cli, capsys, seeded):
    assert cli(["run", "refund", "--input", '{"ticket_id": "T-NOINV"}', "--tenant", seeded, "--local", "ops"]) == 0
    capsys.readouterr()
    assert cli(["escalations", "list", "--tenant", seeded]) == 0
    [item] = json.loads(capsys.readouterr().out)
    assert item["reason_code"] == "validation.missing" and item["status"] == "open"
    assert cli(["escalations", "take", str(item["id"]), "--tenant", seeded, "--local", "ada"]) == 0
    assert json.loads(capsys.readouterr().out)["assignee"] == "local:ada"
    assert cli(["escalations", "note", str(item["id"]), "no invoice named", "--tenant", seeded, "--local", "ada"]) == 0
    capsys.readouterr()
    assert (
        cli(
            [
                "escalations",
                "close",
                str(item["id"]),
                "--resolution",
                "asked the customer",
                "--tenant",
                seeded,
                "--local",
                "ops",
            ]
        )
        == 0
    )
    closed = json.loads(capsys.readouterr().out)
    assert (closed["status"], closed["notes"][0]["by"]) == ("closed", "local:ada")
    assert cli(["escalations", "show", str(item["id"]), "--tenant", seeded]) == 0
    assert json.loads(capsys.readouterr().out)["audit"][0]["thread_id"] == item["thread_id"]
    assert cli(["escalations", "show", str(item["id"]), "--tenant", f"{seeded}-other"]) == 2  # another tenant's
    assert "no escalation" in capsys.readouterr().err
