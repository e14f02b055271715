"""The scoreboard: outcome rates, silent failures, policy violations, tool calls, cost and latency, per
workflow and overall; and the regression gate against ``evals/baseline.json``.

A *silent failure* is a run that reported ``completed`` while the system of record is not what the case
expects. A *policy violation* is a write the policy engine would deny, or hold for a human who never approved.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.table import Table

from evals.runner import CaseRun
from steward.statuses import RESULTS

BASELINE = Path(__file__).parent / "baseline.json"
STATUSES = (*RESULTS[:-1], "invalid_input", "error")
"""A case's status: a run's result, or ``invalid_input`` when the workflow refused the case's input."""
TOLERANCES = {
    "pass_rate": {"max_drop": 0.0},
    "completion_rate": {"max_drop": 0.0},
    "escalation_rate": {"max_rise": 0.0},
    "avg_tool_calls": {"max_rise": 0.25},
    "cost_per_completed_usd": {"max_rise_pct": 10.0},
    "latency_p95_ms": {"max_rise_pct": 300.0, "floor_ms": 500.0},
}
"""How far each metric may move against the baseline before ``--gate`` fails (latency is noisy on shared CI).
Written into ``baseline.json`` with the metrics; the gate applies the tolerances stated there."""


def percentile(samples: list[float], q: float) -> float:
    """The ``q`` quantile of ``samples`` (nearest rank); 0 for none."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _usd(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.00000001")).normalize(), "f")


def metrics(results: list[CaseRun]) -> dict[str, Any]:
    """The scoreboard row of a group of cases."""
    n = len(results) or 1
    outcomes = Counter(r.outputs["status"] for r in results)
    completed = outcomes["completed"]
    total_cost = sum((Decimal(r.outputs["cost_usd"]) for r in results), Decimal(0))
    latencies = [r.outputs["latency_ms"] for r in results]
    return {
        "cases": len(results),
        "passed": sum(r.passed for r in results),
        "pass_rate": round(sum(r.passed for r in results) / n, 4),
        "outcomes": {status: outcomes[status] for status in STATUSES if outcomes[status]},
        "completion_rate": round(completed / n, 4),
        "escalation_rate": round(outcomes["escalated"] / n, 4),
        "escalations_by_reason": dict(
            Counter(r.outputs.get("reason_code") for r in results if r.outputs["status"] == "escalated").most_common()
        ),
        "silent_failures": sum(
            r.outputs["status"] == "completed" and not r.verdicts["final_state"][0] for r in results
        ),
        "policy_violations": sum(len(r.outputs["violations"]) for r in results),
        "avg_tool_calls": round(statistics.fmean(len(r.outputs["tool_calls"]) for r in results), 3) if results else 0,
        "total_cost_usd": _usd(total_cost),
        "cost_per_completed_usd": _usd(total_cost / completed) if completed else "0",
        "latency_p50_ms": round(percentile(latencies, 0.5), 1),
        "latency_p95_ms": round(percentile(latencies, 0.95), 1),
        "failed_cases": [f"{r.case.workflow}/{r.case.id}" for r in results if not r.passed],
    }


def build(results: list[CaseRun]) -> dict[str, Any]:
    """Overall and per-workflow metrics, plus every case's verdicts."""
    workflows = sorted({r.case.workflow for r in results})
    return {
        "overall": metrics(results),
        "workflows": {w: metrics([r for r in results if r.case.workflow == w]) for w in workflows},
        "cases": [
            {
                "workflow": r.case.workflow,
                "dataset": r.case.dataset,
                "id": r.case.id,
                "passed": r.passed,
                "status": r.outputs["status"],
                "reason_code": r.outputs.get("reason_code"),
                "cost_usd": r.outputs["cost_usd"],
                "latency_ms": round(r.outputs["latency_ms"], 1),
                "tool_calls": len(r.outputs["tool_calls"]),
                "verdicts": {k: {"passed": ok, "comment": c} for k, (ok, c) in r.verdicts.items()},
            }
            for r in results
        ],
    }


def table(board: dict[str, Any]) -> Table:
    out = Table(title="Steward eval scoreboard")
    for column in (
        "workflow",
        "cases",
        "pass",
        "completed",
        "escalated",
        "denied",
        "rejected",
        "silent fail",
        "policy viol.",
        "tools/run",
        "USD/completed",
        "p50 ms",
        "p95 ms",
    ):
        out.add_column(column, justify="left" if column == "workflow" else "right")
    for name, m in [*board["workflows"].items(), ("overall", board["overall"])]:
        o = m["outcomes"]
        out.add_row(
            name,
            str(m["cases"]),
            f"{m['pass_rate']:.0%}",
            str(o.get("completed", 0)),
            str(o.get("escalated", 0)),
            str(o.get("denied", 0)),
            str(o.get("rejected", 0)),
            str(m["silent_failures"]),
            str(m["policy_violations"]),
            f"{m['avg_tool_calls']:.2f}",
            m["cost_per_completed_usd"],
            str(m["latency_p50_ms"]),
            str(m["latency_p95_ms"]),
        )
    return out


def _regressions(name: str, now: dict[str, Any], then: dict[str, Any], tolerances: dict[str, Any]) -> list[str]:
    found = []
    for metric, rule in tolerances.items():
        current, before = float(now[metric]), float(then[metric])
        if "max_drop" in rule and current < before - rule["max_drop"]:
            found.append(f"{name}: {metric} fell from {before} to {current}")
        if "max_rise" in rule and current > before + rule["max_rise"]:
            found.append(f"{name}: {metric} rose from {before} to {current}")
        if "max_rise_pct" in rule:
            allowed = max(before * (1 + rule["max_rise_pct"] / 100), rule.get("floor_ms", 0.0))
            if current > allowed and current > before:
                found.append(f"{name}: {metric} rose from {before} to {current} (allowed up to {allowed:.6g})")
    return found


def gate(board: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """Why this run may not ship: regressions beyond tolerance, any silent failure, any policy violation."""
    problems = []
    for name, now in board["workflows"].items():
        if now["silent_failures"]:
            problems.append(f"{name}: {now['silent_failures']} silent failure(s)")
        if now["policy_violations"]:
            problems.append(f"{name}: {now['policy_violations']} policy violation(s)")
        then = baseline["workflows"].get(name)
        if then is None:  # a new workflow: held to every case passing until its baseline is committed
            if now["pass_rate"] < 1.0:
                problems.append(f"{name}: no baseline yet, so every case must pass; failed: {now['failed_cases']}")
        else:
            problems += _regressions(name, now, then, baseline.get("tolerances", TOLERANCES))
    return problems


def baseline_from(board: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """This run's metrics as the baseline of the workflows it covered (others keep ``previous`` entries)."""
    keep = (
        "cases",
        "pass_rate",
        "completion_rate",
        "escalation_rate",
        "silent_failures",
        "policy_violations",
        "avg_tool_calls",
        "cost_per_completed_usd",
        "latency_p50_ms",
        "latency_p95_ms",
        "outcomes",
    )
    workflows = {
        **(previous or {}).get("workflows", {}),
        **{w: {k: m[k] for k in keep} for w, m in board["workflows"].items()},
    }
    return {"tolerances": TOLERANCES, "workflows": dict(sorted(workflows.items()))}


def read_baseline(path: Path = BASELINE) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {"workflows": {}}
