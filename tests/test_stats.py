"""Cost and outcomes per workflow over a window: GET /stats and steward stats."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import httpx

from steward import controls, operations, stats
from steward.controls import ModeSetting

APPROVE = {"decisions": [{"type": "approve"}]}
REJECT = {"decisions": [{"type": "reject", "message": "no"}]}


async def test_stats_count_outcomes_rates_approvals_and_agreement(services, seeded, server, api_keys):
    run = operations.start_run
    assert (await run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")).status == "completed"
    assert (await run(services, "refund", {"ticket_id": "T-NOINV"}, tenant=seeded, user="ada")).status == "escalated"
    for decision in (REJECT, APPROVE):
        big = await run(services, "refund", {"ticket_id": "T-BIG"}, tenant=seeded, user="ada")
        await operations.resume_run(services, big.thread_id, decision, tenant=seeded, user="maria")
    await controls.set_mode(services.pool, ModeSetting(tenant=seeded, workflow="refund", mode="suggest", set_by="ops"))
    await asyncio.sleep(controls.CACHE_S + 0.1)
    held = await run(services, "refund", {"ticket_id": "T-FULL"}, tenant=seeded, user="ada")  # autopilot: allowed
    await operations.resume_run(services, held.thread_id, APPROVE, tenant=seeded, user="maria")
    waiting = await run(services, "refund", {"ticket_id": "T-TWOAMT"}, tenant=seeded, user="ada")

    [row] = await stats.for_tenant(services.pool, seeded, stats.window_start("1h"), writes=services.catalog.write_tools)
    assert row["workflow"] == "refund" and row["cases"] == 6 and row["waiting"] == (waiting.status == "interrupted")
    assert row["outcomes"]["completed"] == 3 and row["outcomes"]["escalated"] >= 1 and row["outcomes"]["rejected"] == 1
    assert row["approvals"] == {"approved": 2, "edited": 0, "rejected": 1, "expired": 0}
    assert row["suggest_agreement_rate"] == 1.0  # the one suggest-mode request was approved as proposed
    assert row["completion_rate"] == round(3 / (6 - row["waiting"]), 4) and Decimal(row["cost_per_completed_usd"]) == 0
    assert row["tool_calls_per_case"] > 1 and 0 < row["latency_p50_s"] <= row["latency_p95_s"]
    assert await stats.for_tenant(services.pool, seeded, stats.window_start("1h"), "triage") == []

    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["approver"]}) as approver:
        got = await approver.get("/stats", params={"since": "1h", "workflow": "refund"})
        assert got.status_code == 200 and got.json()[0]["cases"] == 6
        assert (await approver.get("/stats", params={"since": "yesterday"})).status_code == 422
        assert (await approver.get("/stats", params={"workflow": "payroll"})).status_code == 404
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["runner"]}) as runner:
        assert (await runner.get("/stats")).status_code == 403


def test_the_cli_prints_stats(cli, capsys, seeded):
    assert cli(["run", "refund", "--input", '{"ticket_id": "T-AUTO"}', "--tenant", seeded, "--local", "ops"]) == 0
    capsys.readouterr()
    assert cli(["stats", "--tenant", seeded, "--since", "1h", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["workflow"], row["outcomes"]["completed"]) == ("refund", 1)
    assert cli(["stats", "--tenant", seeded]) == 0 and "refund" in capsys.readouterr().out
    assert cli(["stats", "--tenant", seeded, "--since", "forever"]) == 2
