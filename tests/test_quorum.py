"""Two-person approval: the incident workflow in production needs two distinct approvers, through the SDK
(``command.resume`` from two keys), ``/approvals`` and the CLI, with exactly one execution."""

from __future__ import annotations

import json

import httpx
import psycopg
import pytest

from steward import audit, operations
from tests.seeds import base_seed, load_seed

APPROVE = {"decisions": [{"type": "approve"}]}
ERRORS = [
    {
        "id": f"L-{i}",
        "service_id": "checkout",
        "ts": f"-{i}m",
        "level": "ERROR",
        "message": "500 on /cart: pricing service failed",
    }
    for i in range(1, 5)
]


@pytest.fixture
async def ops_tenant(services, tenant):
    await load_seed(services, base_seed("incident-base", tenant, ops_logs=ERRORS))
    return tenant


async def remediations(services, tenant: str) -> list[dict]:
    async with services.pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM sandbox.remediations WHERE tenant = %s", (tenant,))
        return await cur.fetchall()


async def test_two_approvers_through_the_sdk_execute_once(sdk, ops_tenant, services, server, api_keys):
    runner, first, second = sdk("runner"), sdk("approver"), sdk("approver2")
    thread = await runner.threads.create()
    alert = {"alert_id": "A-1", "service_id": "checkout", "alert_text": "5xx on checkout"}
    paused = await runner.runs.wait(thread["thread_id"], "incident", input=alert)
    request = paused["__interrupt__"][0]["value"]
    assert (request["rule_id"], request["approvers_required"], request["approved_by"]) == (
        "incident.production_two_person",
        2,
        [],
    )

    half = await first.runs.wait(thread["thread_id"], "incident", command={"resume": APPROVE})
    assert half["__interrupt__"][0]["value"]["approved_by"] == [f"{ops_tenant}-approver"]
    assert await remediations(services, ops_tenant) == []
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["approver2"]}) as http:
        listed = (await http.get("/approvals")).json()
        assert [a["quorum"] for a in listed if a["thread_id"] == thread["thread_id"]] == [
            {"required": 2, "approved": 1, "approved_by": [f"{ops_tenant}-approver"]}
        ]

    with pytest.raises(httpx.HTTPStatusError) as twice:  # the same person cannot be the second approver
        await first.runs.wait(thread["thread_id"], "incident", command={"resume": APPROVE})
    assert twice.value.response.status_code == 403 and "already approved" in twice.value.response.text
    done = await second.runs.wait(thread["thread_id"], "incident", command={"resume": APPROVE})
    assert done["outcome"]["reason_code"] == "incident.remediated"
    rows = await remediations(services, ops_tenant)
    assert [(r["action"], r["version"], r["approvers"]) for r in rows] == [
        ("rollback", "2.4.0", [f"{ops_tenant}-approver", f"{ops_tenant}-approver2"])
    ]
    with pytest.raises(httpx.HTTPStatusError) as late:  # a late third approval finds nothing to decide
        await sdk("admin").runs.wait(thread["thread_id"], "incident", command={"resume": APPROVE})
    assert late.value.response.status_code == 409

    events = await audit.events_for(services.pool, thread["thread_id"], ops_tenant)
    decisions = [
        (e["status"], e["detail"]["quorum"]) for e in events if e["type"] == "approval" and e["status"] == "approve"
    ]
    assert decisions == [("approve", "1 of 2"), ("approve", "2 of 2")]


async def test_one_rejection_ends_the_quorum(services, ops_tenant):
    started = await operations.start_run(
        services, "incident", {"alert_id": "A-2", "service_id": "checkout"}, tenant=ops_tenant, user="pager"
    )
    half = await operations.resume_run(services, started.thread_id, APPROVE, tenant=ops_tenant, user="alice")
    assert half.status == "interrupted"
    rejected = await operations.resume_run(
        services, started.thread_id, {"decisions": [{"type": "reject"}]}, tenant=ops_tenant, user="bob"
    )
    assert (rejected.status, rejected.outcome.reason_code) == ("rejected", "approval.rejected")
    assert await remediations(services, ops_tenant) == []


async def test_an_edit_restarts_the_quorum_on_the_edited_arguments(services, ops_tenant):
    started = await operations.start_run(
        services, "incident", {"alert_id": "A-3", "service_id": "checkout"}, tenant=ops_tenant, user="pager"
    )
    await operations.resume_run(services, started.thread_id, APPROVE, tenant=ops_tenant, user="alice")
    edit = {
        "decisions": [
            {"type": "edit", "edited_action": {"name": "remediate", "args": {"action": "restart", "version": None}}}
        ]
    }
    edited = await operations.resume_run(services, started.thread_id, edit, tenant=ops_tenant, user="bob")
    assert edited.status == "interrupted"
    assert (
        edited.approval_request["approved_by"],
        edited.approval_request["action_requests"][0]["args"]["action"],
    ) == (["bob"], "restart")  # alice approved the rollback, not the restart: she may approve again
    done = await operations.resume_run(services, started.thread_id, APPROVE, tenant=ops_tenant, user="alice")
    assert done.status == "completed"
    assert [(r["action"], r["approvers"]) for r in await remediations(services, ops_tenant)] == [
        ("restart", ["bob", "alice"])
    ]


async def test_the_same_alert_opens_one_incident(services, ops_tenant):
    for _ in range(2):
        last = await operations.start_run(
            services, "incident", {"alert_id": "A-9", "service_id": "checkout"}, tenant=ops_tenant, user="pager"
        )
    assert (last.status, last.outcome.reason_code) == ("completed", "incident.duplicate")
    async with services.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM sandbox.incidents WHERE tenant = %s AND alert_id = 'A-9'", (ops_tenant,)
        )
        assert (await cur.fetchone())["n"] == 1


def test_two_approvers_through_the_cli(cli, ops_tenant, capsys, database_url):
    alert = '{"alert_id": "A-CLI", "service_id": "checkout", "alert_text": "5xx"}'
    assert cli(["run", "incident", "--input", alert, "--tenant", ops_tenant, "--local", "pager"]) == 0
    thread = json.loads(capsys.readouterr().out)["thread_id"]
    resume = ["resume", thread, "--decision", "approve", "--tenant", ops_tenant, "--local"]
    assert cli([*resume, "alice"]) == 0
    assert json.loads(capsys.readouterr().out)["approval_request"]["approved_by"] == ["local:alice"]
    assert cli([*resume, "alice"]) == 2
    assert "already approved" in capsys.readouterr().err
    assert cli([*resume, "pager"]) == 2  # the requester
    assert "may not approve" in capsys.readouterr().err
    assert cli([*resume, "bob"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"]["reason_code"] == "incident.remediated"
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT approvers FROM sandbox.remediations WHERE tenant = %s", (ops_tenant,)).fetchall()
    assert rows == [(["local:alice", "local:bob"],)]
