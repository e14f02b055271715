"""Triage: classify a ticket, retrieve articles, route it and reply citing them (the autopilot lane)."""

from graphs.datasets import datasets
from graphs.triage import graph, skills
from steward.workflow import Workflow
from tools import helpdesk, knowledge
from tools.policy import shipped

WORKFLOW = Workflow(
    name=graph.NAME,
    version=graph.VERSION,
    description="Classify a support ticket, retrieve help articles, route it and reply citing what was retrieved.",
    make_graph=graph.make_graph,
    input_schema=graph.TriageInput,
    state_schema=graph.TriageState,
    budget=graph.BUDGET,
    tools=(
        helpdesk.get_ticket,
        helpdesk.get_customer,
        knowledge.search_kb,
        helpdesk.list_queues,
        helpdesk.apply_route,
        helpdesk.post_reply,
    ),
    scopes=(
        "helpdesk:tickets:read",
        "helpdesk:customers:read",
        "knowledge:articles:read",
        "helpdesk:queues:read",
        "helpdesk:tickets:route",
        "helpdesk:tickets:reply",
    ),
    policy=shipped(graph.NAME),
    systems=(helpdesk.HELPDESK, knowledge.KNOWLEDGE),
    skills=skills.SKILLS,
    datasets=datasets(graph.NAME),
    checked_writes=("apply_route", "post_reply"),
)
