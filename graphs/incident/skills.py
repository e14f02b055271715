"""The rules model's skills for incident: summarize telemetry with evidence, pick a remediation.

A methodical on-call engineer: errors and anomalous series become claims citing their ids; a flag named in the
errors is turned off, a bad recent deploy is rolled back, saturation is scaled out, and otherwise the service is
restarted. Like a tired one, it also repeats a log id quoted in the alert without checking it was read: the
evidence check must catch that.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal
from typing import Any

from langchain_core.messages import BaseMessage

from steward.models.rules import Skill, last_human_text

_FLAG = re.compile(r"\bflag[ =:]+['\"]?([a-z0-9_-]+)", re.I)
_LOG_ID = re.compile(r"\bL-[A-Za-z0-9-]+\b")
SATURATION = ("cpu", "memory", "latency_ms", "queue_depth")


def _telemetry(messages: list[BaseMessage]) -> dict[str, Any]:
    text = last_human_text(messages)
    return json.loads(text[text.index("{") :])


def _anomalies(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in metrics if Decimal(m["baseline"]) > 0 and Decimal(m["latest"]) >= 2 * Decimal(m["baseline"])]


def summarize(messages: list[BaseMessage]) -> dict[str, Any]:
    """Claims for the error lines and the anomalous series, each with its evidence."""
    seen = _telemetry(messages)
    errors = [line for line in seen["logs"] if line["level"] == "ERROR"]
    claims = []
    if errors:
        common = Counter(line["message"] for line in errors).most_common(1)[0][0]
        claims.append(
            {
                "text": f"{len(errors)} errors in recent logs, most often: {common[:200]}",
                "evidence": [line["id"] for line in errors[:5]],
            }
        )
    for metric in _anomalies(seen["metrics"]):
        claims.append(
            {
                "text": f"{metric['series']} at {metric['latest']} against a baseline of {metric['baseline']}",
                "evidence": [f"metric:{metric['series']}"],
            }
        )
    quoted = sorted({i for line in seen["logs"] for i in _LOG_ID.findall(line["message"])})
    if quoted:
        claims.append({"text": "log lines referenced by other lines", "evidence": quoted})
    if not claims and seen["logs"]:
        claims.append({"text": "no errors and no anomalous series", "evidence": [seen["logs"][0]["id"]]})
    production = seen["service"]["environment"] == "production"
    severity = "sev1" if production and len(errors) >= 3 else "sev2" if errors or len(claims) > 1 else "sev3"
    return {"severity": severity, "claims": claims}


def plan(messages: list[BaseMessage]) -> dict[str, Any]:
    """One remediation: flag off, rollback, scale out, or restart, in that order of preference."""
    seen = _telemetry(messages)
    service, deploys = seen["service"], seen["deploys"]
    errors = [line for line in seen["logs"] if line["level"] == "ERROR"]
    for line in errors:
        if (match := _FLAG.search(line["message"])) and match[1] in service["flags"]:
            return {"action": "flag_off", "flag": match[1], "reason": f"errors name feature flag {match[1]}"}
    if errors and len(deploys) >= 2 and Decimal(deploys[0]["age_h"]) < 24:
        return {
            "action": "rollback",
            "version": deploys[1]["version"],
            "reason": f"errors began after deploying {deploys[0]['version']}",
        }
    if saturated := [m["series"] for m in _anomalies(seen["metrics"]) if m["series"] in SATURATION]:
        return {"action": "scale", "replicas": service["replicas"] * 2, "reason": f"{', '.join(saturated)} saturated"}
    return {"action": "restart", "reason": "no specific cause found; a restart clears transient state"}


SKILLS: dict[str, Skill] = {"IncidentSummary": summarize, "RemediationPlan": plan}
