"""Tool rate limits (token buckets in Postgres, shared by every process) and cached reads."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import replace

from evals import replay
from graphs import WORKFLOWS
from steward import audit, limits, operations
from steward.budget import BudgetOverride
from steward.services import Services
from steward.workflow import Catalog

TAKE_SIX = """
import asyncio, json, sys
from psycopg_pool import AsyncConnectionPool
from psycopg.rows import dict_row
from steward import limits

async def main():
    async with AsyncConnectionPool(sys.argv[1], kwargs={"row_factory": dict_row}, open=False) as pool:
        print(json.dumps([await limits.take_token(pool, sys.argv[2], "remediate", 5) for _ in range(6)]))

asyncio.run(main())
"""


def with_tool(workflow: str, tool: str, **contract) -> Catalog:
    """The shipped catalog with one tool's contract changed."""
    declared = WORKFLOWS[workflow]
    tools = tuple(replace(t, **contract) if t.name == tool else t for t in declared.tools)
    return Catalog({**WORKFLOWS, workflow: replace(declared, tools=tools)})


def test_a_rate_limit_holds_across_two_processes(database_url, services):  # services: the schema exists
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    procs = [
        subprocess.Popen([sys.executable, "-c", TAKE_SIX, database_url, tenant], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    waits = [w for proc in procs for w in json.loads(proc.communicate(timeout=60)[0])]
    assert sum(1 for w in waits if w == 0) == 5  # 5 a minute for the tenant, whichever process asks
    assert all(0 < w <= 12.5 for w in waits if w)  # the refused are told when the next token comes (12 s apart)


async def test_a_limited_call_waits_for_its_token_or_escalates_past_the_deadline(settings, services, seeded):
    catalog = with_tool("refund", "lookup_invoice", rate_per_minute=60)  # one a second
    async with Services.open(settings, catalog=catalog) as svc:
        while not await limits.take_token(svc.pool, seeded, "lookup_invoice", 60):
            pass  # the tenant's bucket is empty: the next token comes within a second
        waited = await operations.start_run(svc, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")
        assert waited.status == "completed"

        while not await limits.take_token(svc.pool, seeded, "lookup_invoice", 60):
            pass
        hurried = await operations.start_run(
            svc, "refund", {"ticket_id": "T-FULL"}, tenant=seeded, user="ada", budget=BudgetOverride(deadline_s=0.3)
        )
    assert (hurried.status, hurried.outcome.reason_code) == ("escalated", "control.rate_limited")
    events = await audit.events_for(services.pool, hurried.thread_id, seeded)
    limited = next(e for e in events if e["status"] == "rate_limited")
    assert limited["tool"] == "lookup_invoice" and "60 calls a minute" in limited["reason"]


async def test_a_cached_read_is_served_audited_and_replayed_as_recorded(settings, services, seeded):
    catalog = with_tool("refund", "get_ticket", cache_ttl_s=60)
    async with Services.open(settings, catalog=catalog) as svc:
        first = await operations.start_run(svc, "refund", {"ticket_id": "T-NOINV"}, tenant=seeded, user="ada")
        second = await operations.start_run(svc, "refund", {"ticket_id": "T-NOINV"}, tenant=seeded, user="ada")
        other_tenant = await operations.start_run(
            svc, "refund", {"ticket_id": "T-NOINV"}, tenant=f"{seeded}-neighbour", user="eve"
        )
        statuses = [
            [
                e["status"]
                for e in await audit.events_for(svc.pool, run.thread_id, run.tenant)
                if e["tool"] == "get_ticket"
            ]
            for run in (first, second, other_tenant)
        ]
        assert statuses == [["allow", "ok"], ["allow", "cached"], ["allow", "not_found"]]  # never across tenants
        assert second.status == first.status == "escalated"
        report = await replay.replay(svc, second.thread_id, seeded)
    assert not report.differs and not report.drift, report.diff()


def test_writes_may_not_be_cached_and_limits_must_be_positive():
    spec = next(t for t in WORKFLOWS["refund"].tools if t.name == "create_refund")
    for bad in ({"cache_ttl_s": 60}, {"rate_per_minute": 0}):
        try:
            replace(spec, **bad)
        except ValueError as exc:
            assert "create_refund" in str(exc)
        else:
            raise AssertionError(f"{bad} was accepted")
