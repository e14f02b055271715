"""Refund: read a ticket, propose a refund, gate it, get it approved, write it, verify it."""

from graphs.datasets import datasets
from graphs.refund import demo, graph, skills
from steward.workflow import Workflow
from tools import billing, helpdesk
from tools.policy import shipped

WORKFLOW = Workflow(
    name=graph.NAME,
    version=graph.VERSION,
    description="Read a support ticket, propose a refund, gate it by policy and approval, write it, verify it.",
    make_graph=graph.make_graph,
    input_schema=graph.RefundInput,
    state_schema=graph.RefundState,
    budget=graph.BUDGET,
    tools=(helpdesk.get_ticket, billing.lookup_invoice, billing.create_refund, billing.get_refund),
    scopes=("helpdesk:tickets:read", "billing:invoices:read", "billing:refunds:write", "billing:refunds:read"),
    policy=shipped(graph.NAME),
    systems=(helpdesk.HELPDESK, billing.BILLING),
    skills=skills.SKILLS,
    datasets=datasets(graph.NAME),
    checked_writes=("create_refund",),
    demo=demo.run_demo,
    demo_seed=demo.SEED,
)
