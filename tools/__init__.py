"""Tool contracts, one module per system of record, and the policy engine that gates every call.

Nothing here registers itself: a workflow's declaration lists the contracts it may call and the systems of
record they act on (see :class:`steward.workflow.Workflow`).
"""
