"""Incident: an SRE assistant that reads a service's telemetry, opens one incident per alert with evidence,
and proposes a remediation from a fixed catalogue that people approve.

    START -> observe -> summarize -> check_evidence -> open_incident -> propose -> check_remediation
    check_remediation -> policy_gate --allow--> remediate | --require_approval--> approval | --deny--> respond
    approval --quorum met--> remediate | --next approver--> approval | --edit--> check_remediation
             --reject--> respond
    remediate -> respond -> END
    A duplicate alert ends at open_incident (its incident exists); a failed check escalates.

Reads run freely; every remediation mutates a service, so it needs approval, and in production two distinct
approvers (policy ``approvers = 2``). The alert text is untrusted: it reaches no model, and every claim of the
summary must cite log lines or metric series that were actually read.
"""

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, Field

from steward.budget import Budget
from steward.outcome import Outcome, escalate
from steward.services import StewardContext
from steward.state import GovernedState, ProposedAction, add_gate_edges, proceed_to
from steward.step import Step, governed
from tools import ops
from tools.ops import Action, Incident, Observations, Remediation

NAME = "incident"
VERSION = "1.0.0"
BUDGET = Budget(
    max_steps=30, max_tool_calls=8, max_model_calls=4, max_tokens=30_000, max_cost_usd=Decimal("0.20"), deadline_s=90
)
node = governed(NAME, BUDGET)
final_node = governed(NAME, BUDGET, enforce_budget=False)


class AlertInput(BaseModel):
    """What an alerting system sends: which alert fired, for which service, and its (untrusted) text."""

    alert_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    service_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    alert_text: str = Field(default="", max_length=2000)


class Claim(BaseModel):
    text: str = Field(min_length=1, max_length=500)
    evidence: list[str] = Field(min_length=1, description="Ids of the log lines or 'metric:<series>' supporting it")


class IncidentSummary(BaseModel):
    """What is going on, claim by claim with evidence (answered by the medium model)."""

    severity: Literal["sev1", "sev2", "sev3"]
    claims: list[Claim] = Field(min_length=1)


class RemediationPlan(BaseModel):
    """One remediation from the catalogue (answered by the medium model)."""

    action: Action
    replicas: int | None = None
    version: str | None = None
    flag: str | None = None
    reason: str = Field(min_length=1, max_length=500)


class IncidentState(GovernedState, AlertInput):
    observed: Observations | None = None
    summary: IncidentSummary | None = None
    incident: Incident | None = None
    remediation: Remediation | None = None


SUMMARY_SYSTEM = (
    "You are an SRE. Summarize the service's state as claims, each citing the log line ids or "
    "'metric:<series>' names that support it. Cite nothing you were not given."
)
PLAN_SYSTEM = (
    "Propose exactly one remediation from the catalogue (restart, scale, rollback, flag_off) that "
    "the evidence supports, with its target."
)


@node
async def observe(state: IncidentState, step: Step) -> dict[str, Any]:
    """Read the service's recent logs, metrics and deploys."""
    observed = await step.call_tool(ops.observe_service, {"service_id": state.service_id})
    return {"observed": observed, "requested_by": step.user}


def telemetry(state: IncidentState) -> str:
    """What the models see: the telemetry read from the system of record (never the alert's text)."""
    return json.dumps(state.observed.model_dump(mode="json"))


@node
async def summarize(state: IncidentState, step: Step) -> dict[str, Any]:
    """Have the medium model summarize the telemetry with evidence."""
    summary = await step.ask_model("medium", system=SUMMARY_SYSTEM, prompt=telemetry(state), schema=IncidentSummary)
    return {"summary": summary}


def evidence_ids(observed: Observations | None) -> set[str]:
    if observed is None:
        return set()
    return {line.id for line in observed.logs} | {f"metric:{m.series}" for m in observed.metrics}


@node
async def check_evidence(state: IncidentState, step: Step) -> dict[str, Any]:
    """Every claim must cite only log lines and series that were read."""
    known = evidence_ids(state.observed)
    unsupported = sorted({e for claim in state.summary.claims for e in claim.evidence} - known)
    step.record(
        "validator",
        "failed" if unsupported else "ok",
        rule_id="validation.unsupported_claim",
        detail={"unsupported": unsupported},
    )
    if unsupported:
        raise escalate("validation.unsupported_claim", f"the summary cites evidence that was never read: {unsupported}")
    return {}


@node
async def open_incident(state: IncidentState, step: Step) -> dict[str, Any]:
    """Open the incident (one per alert: a repeated alert finds the one already open and stops here)."""
    summary = state.summary
    incident = await step.call_tool(
        "open_incident",
        {
            "alert_id": state.alert_id,
            "service_id": state.service_id,
            "severity": summary.severity,
            "summary": "; ".join(claim.text for claim in summary.claims),
            "evidence": sorted({e for claim in summary.claims for e in claim.evidence}),
        },
    )
    if incident.deduplicated:
        return {
            "incident": incident,
            "outcome": Outcome(
                status="completed",
                reason_code="incident.duplicate",
                reason=f"Alert {state.alert_id} already has incident {incident.id}; nothing more to do.",
            ),
        }
    return {"incident": incident}


@node
async def propose(state: IncidentState, step: Step) -> dict[str, Any]:
    """Have the medium model pick a remediation; the incident and service come from the run, not the model."""
    plan = await step.ask_model("medium", system=PLAN_SYSTEM, prompt=telemetry(state), schema=RemediationPlan)
    args = {"incident_id": state.incident.id, "service_id": state.service_id, **plan.model_dump(mode="json")}
    return {"action": ProposedAction(name="remediate", args=args)}


def remediation_problems(state: IncidentState) -> list[str]:
    """What is wrong with the proposed remediation for this service (empty when policy may see it)."""
    args, service = state.action.args, state.observed.service
    versions = {d.version for d in state.observed.deploys}
    problems = []
    if args.get("service_id") != service.id or args.get("incident_id") != state.incident.id:
        problems.append("the remediation targets another service or incident")
    action = args.get("action")
    if action == "rollback" and (args.get("version") not in versions or args.get("version") == service.version):
        problems.append(f"rollback target {args.get('version')!r} is not an earlier deploy of {service.id}")
    if action == "flag_off" and args.get("flag") not in service.flags:
        problems.append(f"{service.id} has no feature flag {args.get('flag')!r}")
    if action == "scale" and not (isinstance(args.get("replicas"), int) and args["replicas"] > service.replicas):
        problems.append(f"scale needs more replicas than the {service.replicas} running")
    return problems


@node
async def check_remediation(state: IncidentState, step: Step) -> dict[str, Any]:
    """Deterministic checks on the remediation (again after an approver's edit)."""
    problems = [("validation.invalid_remediation", text) for text in remediation_problems(state)]
    step.check(problems, args=state.action.args)
    return {}


@node
async def policy_gate(state: IncidentState, step: Step) -> dict[str, Any]:
    """Ask the policy about the remediation; deny ends the run, approval pauses it (two people in production)."""
    return await step.gate(state.action, approval=state.approval)


@node
async def approval(state: IncidentState, step: Step) -> dict[str, Any]:
    """Pause for one human decision; in production the next approver is asked until two distinct ones agree."""
    a = state.action.args
    target = {
        "scale": f" to {a.get('replicas')} replicas",
        "rollback": f" to {a.get('version')}",
        "flag_off": f" flag {a.get('flag')}",
        "restart": "",
    }[a["action"]]
    description = (
        f"{a['action']}{target} on {a['service_id']} ({state.observed.service.environment}) for"
        f" incident {a['incident_id']}: {a['reason']}"
    )
    return step.ask_approval(step.approval_request(state, description))


@node
async def remediate(state: IncidentState, step: Step) -> dict[str, Any]:
    """Apply the remediation; the policy is asked again now, and the approvals must cover exactly these args."""
    return {"remediation": await step.call_tool(ops.remediate, state.action.args, approval=state.approval)}


@final_node
async def respond(state: IncidentState, step: Step) -> dict[str, Any]:
    """Settle the outcome and write the final audit event."""
    done = state.remediation
    outcome = state.outcome or Outcome(
        status="completed",
        reason_code="incident.remediated",
        reason=f"Incident {state.incident.id}: {done.action} on {done.service_id} approved by"
        f" {', '.join(done.approvers) or 'policy'}.",
    )
    response = f"{outcome.status}: {outcome.reason}"
    return step.finish(state, outcome, response, input_model=AlertInput, version=VERSION)


CHAIN = ["observe", "summarize", "check_evidence", "open_incident", "propose", "check_remediation", "policy_gate"]


def make_graph(**variants: Callable[..., Any]) -> StateGraph[Any, Any, Any, Any]:
    """The incident workflow, uncompiled; ``variants`` replace nodes by name."""
    nodes = {
        n.__name__: n
        for n in (
            observe,
            summarize,
            check_evidence,
            open_incident,
            propose,
            check_remediation,
            policy_gate,
            approval,
            remediate,
            respond,
        )
    }
    if unknown := set(variants) - set(nodes):
        raise ValueError(f"no such incident nodes: {sorted(unknown)}")
    builder = StateGraph(IncidentState, input_schema=AlertInput, context_schema=StewardContext)
    for name, fn in {**nodes, **variants}.items():
        builder.add_node(name, fn)
    builder.add_edge(START, CHAIN[0])
    for source, target in [*zip(CHAIN, CHAIN[1:], strict=False), ("remediate", "respond")]:
        builder.add_conditional_edges(source, proceed_to(target), [target, "respond"])
    add_gate_edges(builder, act="remediate", revalidate="check_remediation")
    builder.add_edge("respond", END)
    return builder


graph = make_graph().compile(name=NAME)
"""Compiled without a checkpointer, for ``langgraph dev`` / Studio (which supply their own)."""
