"""Incident: read telemetry, open one incident per alert with evidence, remediate with (two-person) approval."""

from graphs.datasets import datasets
from graphs.incident import graph, skills
from steward.workflow import Workflow
from tools import ops
from tools.policy import shipped

WORKFLOW = Workflow(
    name=graph.NAME,
    version=graph.VERSION,
    description="Read a service's telemetry, open one incident per alert with evidence, and remediate it from a "
    "fixed catalogue with approval (two people in production).",
    make_graph=graph.make_graph,
    input_schema=graph.AlertInput,
    state_schema=graph.IncidentState,
    budget=graph.BUDGET,
    tools=(ops.observe_service, ops.open_incident, ops.remediate),
    scopes=("ops:telemetry:read", "ops:incidents:write", "ops:services:remediate"),
    policy=shipped(graph.NAME),
    systems=(ops.OPS,),
    skills=skills.SKILLS,
    datasets=datasets(graph.NAME),
    checked_writes=("open_incident", "remediate"),
)
