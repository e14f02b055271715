"""Kill switches: an operator stops writes (and new runs) in seconds, for runs in flight too, on every process."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from steward import audit, controls, operations
from steward.controls import KillSwitch
from steward.errors import Unavailable
from steward.threads import checkpoint_config
from tests.seeds import refunds

APPROVE = {"decisions": [{"type": "approve"}]}


async def test_a_switch_flipped_while_a_run_waits_for_approval_stops_its_write(services, seeded):
    paused = await operations.start_run(services, "refund", {"ticket_id": "T-BIG"}, tenant=seeded, user="grace")
    await controls.set_switch(
        services.pool, KillSwitch(tenant=seeded, tool="create_refund", reason="billing audit", set_by="ops")
    )
    await asyncio.sleep(controls.CACHE_S + 0.1)
    done = await operations.resume_run(services, paused.thread_id, APPROVE, tenant=seeded, user="maria")

    assert (done.status, done.outcome.reason_code) == ("denied", "control.kill_switch")
    assert "billing audit" in done.outcome.reason and await refunds(services.pool, seeded) == []
    events = await audit.events_for(services.pool, paused.thread_id, seeded)
    denial = next(e for e in events if e["rule_id"] == "control.kill_switch")
    assert denial["detail"]["switch"]["tool"] == "create_refund" and denial["detail"]["switch"]["set_by"] == "ops"
    assert not [e for e in events if e["type"] in ("intent", "tool_call") and e["tool"] == "create_refund"]

    await controls.clear_switch(services.pool, seeded, "*", "create_refund")
    await asyncio.sleep(controls.CACHE_S + 0.1)
    auto = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="grace")
    assert auto.status == "completed"


async def test_a_switch_reaches_only_what_it_names(services, seeded):
    await controls.set_switch(services.pool, KillSwitch(tenant=f"{seeded}-other", reason="not you"))
    await controls.set_switch(services.pool, KillSwitch(tenant=seeded, workflow="triage", reason="not triage"))
    await asyncio.sleep(controls.CACHE_S + 0.1)
    auto = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="grace")
    assert auto.status == "completed"
    with pytest.raises(Unavailable, match="triage takes no new runs: kill switch .* not triage"):
        await operations.start_run(services, "triage", {"ticket_id": "T-AUTO"}, tenant=seeded, user="grace")


async def test_the_admin_api_sets_a_switch_that_every_server_process_applies(sdk, server, api_keys, seeded, services):
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["admin"]}) as admin:
        made = await admin.post("/controls/kill-switches", json={"workflow": "refund", "reason": "incident 42"})
        assert made.status_code == 201 and made.json()["set_by"] == f"{seeded}-admin"
        assert (
            await admin.post("/controls/kill-switches", json={"workflow": "payroll", "reason": "x"})
        ).status_code == 404
        await asyncio.sleep(controls.CACHE_S + 0.1)
        refused = await admin.post("/runs/wait", json={"assistant_id": "refund", "input": {"ticket_id": "T-AUTO"}})
        assert refused.status_code == 503 and "incident 42" in refused.json()["detail"]
        listed = (await admin.get("/controls/kill-switches")).json()
        assert [(s["tenant"], s["workflow"], s["reason"]) for s in listed] == [(seeded, "refund", "incident 42")]
        runner = await admin.post(
            "/controls/kill-switches", json={"reason": "x"}, headers={"x-api-key": api_keys["runner"]}
        )
        assert runner.status_code == 403
        assert (await admin.delete("/controls/kill-switches", params={"workflow": "refund"})).status_code == 200
        await asyncio.sleep(controls.CACHE_S + 0.1)
        again = await admin.post("/runs/wait", json={"assistant_id": "refund", "input": {"ticket_id": "T-AUTO"}})
        assert again.status_code == 200 and again.json()["outcome"]["status"] == "completed"


def test_the_cli_sets_lists_and_clears_switches(cli, capsys, tenant):
    assert (
        cli(["kill", "set", "--tenant", tenant, "--tool", "post_reply", "--reason", "tone review", "--local", "ops"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["set"]["tool"] == "post_reply"
    assert cli(["kill", "list", "--tenant", tenant]) == 0
    assert [s["reason"] for s in json.loads(capsys.readouterr().out)] == ["tone review"]
    assert cli(["kill", "set", "--workflow", "payroll", "--reason", "x", "--local", "ops"]) == 2
    assert cli(["kill", "clear", "--tenant", tenant, "--tool", "post_reply", "--local", "ops"]) == 0
    assert cli(["kill", "clear", "--tenant", tenant, "--tool", "post_reply", "--local", "ops"]) == 2
    capsys.readouterr()
    assert cli(["mode", "set", "incident", "suggest", "--tenant", tenant, "--local", "ops"]) == 0
    assert json.loads(capsys.readouterr().out)["set"]["mode"] == "suggest"
    assert cli(["mode", "list", "--tenant", tenant]) == 0
    listed = {m["workflow"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["incident"]["set"] == {tenant: "suggest"} and listed["refund"]["declared"] == "autopilot"
    assert cli(["mode", "set", "payroll", "shadow", "--local", "ops"]) == 2


async def test_shadow_mode_plans_and_judges_but_writes_nothing(services, seeded):
    from steward.controls import ModeSetting

    await controls.set_mode(services.pool, ModeSetting(tenant=seeded, workflow="refund", mode="shadow", set_by="ops"))
    await asyncio.sleep(controls.CACHE_S + 0.1)
    shadow = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="grace")
    assert (shadow.status, shadow.outcome.reason_code) == ("shadowed", "mode.shadow")
    assert "would be allow (refund.auto_small" in shadow.outcome.reason and await refunds(services.pool, seeded) == []
    events = await audit.events_for(services.pool, shadow.thread_id, seeded)
    gate = next(e for e in events if e["type"] == "policy" and e["tool"] == "create_refund")
    assert (gate["status"], gate["detail"]["mode"]) == ("allow", "shadow")

    # a run waiting for approval when the workflow moves to shadow writes nothing either
    await controls.set_mode(services.pool, ModeSetting(tenant=seeded, workflow="refund", mode="suggest", set_by="ops"))
    await asyncio.sleep(controls.CACHE_S + 0.1)
    paused_before = await operations.start_run(services, "refund", {"ticket_id": "T-FULL"}, tenant=seeded, user="g")
    assert paused_before.approval_request["rule_id"] == "mode.suggest"  # 45 USD would be automatic in autopilot
    await controls.set_mode(services.pool, ModeSetting(tenant=seeded, workflow="refund", mode="shadow", set_by="ops"))
    await asyncio.sleep(controls.CACHE_S + 0.1)
    done = await operations.resume_run(services, paused_before.thread_id, APPROVE, tenant=seeded, user="maria")
    assert (done.status, done.outcome.reason_code) == ("shadowed", "mode.shadow")
    assert await refunds(services.pool, seeded) == []
    await controls.set_mode(
        services.pool, ModeSetting(tenant=seeded, workflow="refund", mode="autopilot", set_by="ops")
    )


async def test_modes_through_the_admin_api(server, api_keys, seeded):
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["admin"]}) as admin:
        assert (await admin.put("/controls/modes/triage", json={"mode": "shadow"})).json()["mode"] == "shadow"
        modes = {m["workflow"]: (m["declared"], m["mode"]) for m in (await admin.get("/controls/modes")).json()}
        assert modes["triage"] == ("autopilot", "shadow") and modes["refund"] == ("autopilot", "autopilot")
        assert (await admin.put("/controls/modes/triage", json={"mode": "yolo"})).status_code == 422
        assert (await admin.put("/controls/modes/payroll", json={"mode": "shadow"})).status_code == 404


async def test_admins_set_spend_caps_through_the_api_and_a_capped_tenant_gets_429(server, api_keys, seeded):
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["admin"]}) as admin:
        assert (await admin.put("/controls/spend-caps", json={"usd_per_day": "-1"})).status_code == 422
        assert (
            await admin.put("/controls/spend-caps", json={"workflow": "payroll", "usd_per_day": 1})
        ).status_code == 404
        made = await admin.put("/controls/spend-caps", json={"workflow": "refund", "usd_per_day": 0})
        assert made.status_code == 200 and made.json()["set_by"] == f"{seeded}-admin"
        await asyncio.sleep(controls.CACHE_S + 0.1)
        refused = await admin.post("/runs/wait", json={"assistant_id": "refund", "input": {"ticket_id": "T-AUTO"}})
        assert refused.status_code == 429 and "daily spend cap of 0.0000 USD" in refused.json()["detail"]
        [cap] = (await admin.get("/controls/spend-caps")).json()
        assert (cap["workflow"], cap["spent_today_usd"]) == ("refund", "0")
        assert (await admin.delete("/controls/spend-caps", params={"workflow": "refund"})).status_code == 200
        await asyncio.sleep(controls.CACHE_S + 0.1)
        ok = await admin.post("/runs/wait", json={"assistant_id": "refund", "input": {"ticket_id": "T-AUTO"}})
        assert ok.status_code == 200 and ok.json()["outcome"]["status"] == "completed"
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["approver"]}) as approver:
        assert (await approver.put("/controls/spend-caps", json={"usd_per_day": 5})).status_code == 403


def test_the_cli_sets_lists_and_clears_spend_caps(cli, capsys, tenant):
    assert cli(["cap", "set", tenant, "2.50", "--workflow", "refund", "--local", "finance"]) == 0
    assert json.loads(capsys.readouterr().out)["set"]["usd_per_day"] == "2.5000"
    assert cli(["cap", "list", "--tenant", tenant]) == 0
    assert [(c["workflow"], c["set_by"]) for c in json.loads(capsys.readouterr().out)] == [("refund", "local:finance")]
    assert cli(["cap", "set", tenant, "lots", "--local", "ops"]) == 2
    assert "usd_per_day" in capsys.readouterr().err
    assert cli(["cap", "clear", tenant, "--workflow", "refund", "--local", "ops"]) == 0
    assert cli(["cap", "clear", tenant, "--workflow", "refund", "--local", "ops"]) == 2


async def test_a_mode_change_applies_to_runs_started_after_it(services, seeded):
    from steward.controls import ModeSetting

    before = await operations.start_run(services, "refund", {"ticket_id": "T-BIG"}, tenant=seeded, user="grace")
    assert before.approval_request["mode"] == "autopilot"
    await controls.set_mode(services.pool, ModeSetting(tenant=seeded, workflow="refund", mode="suggest", set_by="ops"))
    await asyncio.sleep(controls.CACHE_S + 0.1)
    after = await operations.start_run(services, "refund", {"ticket_id": "T-FULL"}, tenant=seeded, user="grace")
    assert (after.approval_request["rule_id"], after.approval_request["mode"]) == ("mode.suggest", "suggest")

    # the earlier run keeps its mode: an edit into the automatic range is decided by the policy alone
    edit = {"decisions": [{"type": "edit", "edited_action": {"name": "create_refund", "args": {"amount_usd": "30"}}}]}
    done = await operations.resume_run(services, before.thread_id, edit, tenant=seeded, user="maria")
    assert done.status == "completed"
    events = await audit.events_for(services.pool, before.thread_id, seeded)
    regate = [e for e in events if e["type"] == "policy" and e["tool"] == "create_refund"][-1]
    assert (regate["rule_id"], regate["detail"]["mode"]) == ("refund.auto_small", "autopilot")
    state = await services.graph("refund").aget_state(checkpoint_config(seeded, after.thread_id))
    assert state.values["mode"] == "suggest"
