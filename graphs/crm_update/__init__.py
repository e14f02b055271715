"""CRM update: apply a sales note's field changes (high-risk fields need approval), or undo a change exactly."""

from graphs.crm_update import graph, skills
from graphs.datasets import datasets
from steward.workflow import Workflow
from tools import crm, crm_undo
from tools.policy import shipped

WORKFLOW = Workflow(
    name=graph.NAME,
    version=graph.VERSION,
    description="Turn a sales-ops note into validated CRM field changes with a change log; high-risk fields need "
    "approval; undo restores a change exactly unless the record changed since.",
    make_graph=graph.make_graph,
    input_schema=graph.CrmInput,
    state_schema=graph.CrmState,
    budget=graph.BUDGET,
    tools=(crm.get_record, crm_undo.get_change, crm.apply_changes, crm_undo.undo_change),
    scopes=("crm:records:read", "crm:changes:read", "crm:records:write"),
    policy=shipped(graph.NAME),
    systems=(crm.CRM,),
    skills=skills.SKILLS,
    datasets=datasets(graph.NAME),
    checked_writes=("apply_changes", "undo_change"),
)
