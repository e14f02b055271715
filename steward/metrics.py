"""Prometheus metrics: what happened (counters and histograms, counted where it happens) and what is (gauges,
read from Postgres at scrape time, so every server and worker process agrees on them).

Served as text at ``GET /metrics``. With several server processes (``STEWARD_SERVER_PROCESSES`` > 1), ``steward
serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory and each scrape sums every process's counters.
Replays count nothing (they re-execute recorded runs).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from steward.pool import Pool, one

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

RUNS = Counter(
    "steward_runs", "Runs that ended, by workflow, run status and outcome", ["workflow", "status", "outcome"]
)
RUN_SECONDS = Histogram(
    "steward_run_duration_seconds",
    "Wall time of a run's execution (not the time it waited for people)",
    ["workflow"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
TOOL_CALLS = Counter("steward_tool_calls", "Tool calls by workflow, tool and status", ["workflow", "tool", "status"])
POLICY_DECISIONS = Counter(
    "steward_policy_decisions", "Policy verdicts by workflow, rule and verdict", ["workflow", "rule_id", "verdict"]
)
BUDGET_HITS = Counter("steward_budget_hits", "Runs stopped by a budget, by workflow and limit", ["workflow", "limit"])
ESCALATIONS = Counter(
    "steward_escalations", "Runs handed to people, by workflow and reason code", ["workflow", "reason_code"]
)
COST = Counter("steward_model_cost_usd", "Model spend in USD by tenant and workflow", ["tenant", "workflow"])
TOKENS = Counter("steward_model_tokens", "Model tokens by workflow and direction", ["workflow", "direction"])
LEASE_TAKEOVERS = Counter("steward_lease_takeovers", "Runs requeued because their worker stopped renewing its lease")


def count_event(workflow: str, tenant: str, type_: str, status: str, **event: object) -> None:
    """Count one audit event of a step (the step calls this as it records the event)."""
    if type_ == "tool_call":
        TOOL_CALLS.labels(workflow, str(event.get("tool")), status).inc()
    elif type_ == "policy":
        POLICY_DECISIONS.labels(workflow, str(event.get("rule_id")), status).inc()
    elif type_ == "model_call":
        cost = event.get("cost_usd")
        if isinstance(cost, Decimal) and cost:
            COST.labels(tenant, workflow).inc(float(cost))
        for direction in ("in", "out"):
            if isinstance(tokens := event.get(f"tokens_{direction}"), int):
                TOKENS.labels(workflow, "input" if direction == "in" else "output").inc(tokens)
    elif type_ == "validator" and str(event.get("rule_id", "")).startswith("budget."):
        BUDGET_HITS.labels(workflow, str(event["rule_id"]).removeprefix("budget.")).inc()


_STATE = """
SELECT
  (SELECT coalesce(json_object_agg(workflow, json_build_object('n', n, 'oldest', oldest)), '{}')
     FROM (SELECT coalesce(workflow, '') AS workflow, count(*) AS n,
                  extract(epoch FROM now() - min(updated_at)) AS oldest
             FROM steward.threads WHERE status = 'interrupted' GROUP BY 1) w) AS approvals,
  (SELECT coalesce(json_object_agg(status, n), '{}')
     FROM (SELECT status, count(*) AS n FROM steward.runs WHERE status IN ('pending', 'running') GROUP BY 1) r) AS runs,
  (SELECT coalesce(json_object_agg(workflow, n), '{}')
     FROM (SELECT workflow, count(*) AS n FROM steward.escalations WHERE status <> 'closed' GROUP BY 1) e) AS queue,
  (SELECT count(*) FROM steward.kill_switches) AS switches
"""


class _Snapshot(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics


async def state_gauges(pool: Pool) -> list[Metric]:
    """Gauges of what is, across every process: read from Postgres in one statement."""
    async with pool.connection() as conn:
        row = await one(await conn.execute(_STATE))
    pending = GaugeMetricFamily("steward_approvals_pending", "Runs waiting for a human decision", labels=["workflow"])
    oldest = GaugeMetricFamily(
        "steward_approval_oldest_age_seconds", "Age of the oldest pending approval", labels=["workflow"]
    )
    for workflow, numbers in row["approvals"].items():
        pending.add_metric([workflow], numbers["n"])
        oldest.add_metric([workflow], numbers["oldest"] or 0)
    queue = GaugeMetricFamily("steward_runs_in_queue", "Background runs by status", labels=["status"])
    for status in ("pending", "running"):
        queue.add_metric([status], row["runs"].get(status, 0))
    open_items = GaugeMetricFamily("steward_escalations_open", "Escalations not closed", labels=["workflow"])
    for workflow, n in row["queue"].items():
        open_items.add_metric([workflow], n)
    switches = GaugeMetricFamily("steward_kill_switches_active", "Kill switches in force", value=row["switches"])
    return [pending, oldest, queue, open_items, switches]


async def render(pool: Pool) -> bytes:
    """The exposition text: this process's (or every process's) counters, then the state gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    state = CollectorRegistry(auto_describe=False)
    state.register(_Snapshot(await state_gauges(pool)))
    return generate_latest(counted) + generate_latest(state)
