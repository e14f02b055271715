"""Prometheus metrics at /metrics: counted where things happen, summed across server processes; state gauges
from Postgres; operators only."""

from __future__ import annotations

import asyncio
import re

import httpx
from langgraph_sdk import get_client

from steward import keys
from tests.processes import start_server
from tests.seeds import load_seed, refund_seed


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_runs_tools_decisions_and_cost_and_show_pending_approvals(server, sdk, seeded):
    before = httpx.get(f"{server}/metrics").text
    client = sdk("runner")
    for ticket in ("T-AUTO", "T-BIG", "T-NOINV"):  # completed, waiting for approval, escalated
        thread = await client.threads.create()
        await client.runs.wait(thread["thread_id"], "refund", input={"ticket_id": ticket})
    after = httpx.get(f"{server}/metrics")
    assert after.status_code == 200 and after.headers["content-type"].startswith("text/plain")
    text = after.text

    def grew(name: str, by: float = 1, **labels: str) -> bool:
        return sample(text, name, **labels) - sample(before, name, **labels) >= by

    assert grew("steward_runs_total", workflow="refund", status="success", outcome="completed")
    assert grew("steward_runs_total", workflow="refund", status="success", outcome="escalated")
    assert grew("steward_runs_total", workflow="refund", status="success", outcome="waiting")
    assert grew("steward_run_duration_seconds_count", 3, workflow="refund")
    assert grew("steward_tool_calls_total", 3, workflow="refund", tool="get_ticket", status="ok")
    assert grew("steward_policy_decisions_total", workflow="refund", rule_id="refund.auto_small", verdict="allow")
    assert grew("steward_escalations_total", workflow="refund", reason_code="validation.missing")
    assert sample(text, "steward_approvals_pending", workflow="refund") >= 1
    assert sample(text, "steward_approval_oldest_age_seconds", workflow="refund") >= 0
    assert "steward_kill_switches_active" in text and "steward_runs_in_queue" in text


async def test_metrics_sum_every_server_process_and_need_the_token(cli_env, services, tmp_path):
    tenant = "metrics-two-processes"
    await load_seed(services, refund_seed(tenant))
    key = await keys.create_key(services.pool, tenant=tenant, roles=["runner"], name="metrics-runner")
    process, url = start_server(
        cli_env,
        tmp_path / "server.log",
        STEWARD_SERVER_PROCESSES="2",
        STEWARD_METRICS_TOKEN="s3cret",
        STEWARD_WORKERS="0",
    )
    try:
        assert httpx.get(f"{url}/metrics").status_code == 403
        assert httpx.get(f"{url}/metrics", headers={"authorization": "Bearer wrong"}).status_code == 403
        async with get_client(url=url, api_key=key) as client:
            threads = [(await client.threads.create())["thread_id"] for _ in range(12)]
            await asyncio.gather(*(client.runs.wait(t, "refund", input={"ticket_id": "T-NOINV"}) for t in threads))
        text = httpx.get(f"{url}/metrics", headers={"authorization": "Bearer s3cret"}).text
        # 12 runs spread over two processes (new connections each time), all counted in one scrape
        assert sample(text, "steward_escalations_total", workflow="refund", reason_code="validation.missing") >= 12
        assert sample(text, "steward_model_tokens_total", workflow="refund", direction="input") > 0
    finally:
        process.stop()
    # both processes log (uvicorn applies the logging config in each): the access log has every run
    assert process.log.read_text().count("/runs/wait 200") == 12
