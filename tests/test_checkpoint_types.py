"""Checkpoints hold no application types, so any LangGraph version (and ``langgraph dev``) reads them back.

LangGraph warns today, and will refuse by default, when it deserializes a type that is not on its allowlist; a
server that brings its own checkpointer (``langgraph dev``, Studio) has none of Steward's types on it. Every
workflow's runs, paused for approval and resumed, must leave checkpoints that a *strict* deserializer (LangGraph's
safe types only) reads without blocking anything.
"""

from __future__ import annotations

from langgraph.checkpoint.serde.event_hooks import register_serde_event_listener
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from evals import cases
from evals.runner import forget_tenants, run_case
from steward.budget import Usage, add_usage
from steward.state import checkpointable
from steward.threads import checkpoint_thread


async def test_every_workflows_checkpoints_read_back_under_strict_deserialization(services):
    chosen = []
    for workflow in services.catalog.values():
        golden = cases.load([workflow], "golden")
        chosen += [c for c in golden if c.decisions][:2] + [c for c in golden if not c.decisions][:1]
    assert {c.workflow for c in chosen} >= {"refund", "triage", "crm_update", "incident"}

    keys = []
    for case in chosen:
        out = await run_case(services, case, tag="strict", models={})
        if out["thread_id"]:
            keys.append(checkpoint_thread(out["tenant"], out["thread_id"]))
    try:
        async with services.pool.connection() as conn:
            blobs = await (
                await conn.execute(
                    "SELECT type, blob FROM checkpoint_blobs WHERE thread_id = ANY(%(t)s) AND type <> 'empty'"
                    " UNION ALL SELECT type, blob FROM checkpoint_writes WHERE thread_id = ANY(%(t)s)",
                    {"t": keys},
                )
            ).fetchall()
        assert len(blobs) > 100
        events: list[dict] = []
        unregister = register_serde_event_listener(events.append)
        try:
            strict = JsonPlusSerializer(allowed_msgpack_modules=None)
            for row in blobs:
                strict.loads_typed((row["type"], row["blob"]))
        finally:
            unregister()
        assert [e for e in events if "blocked" in e["kind"]] == []
    finally:
        await forget_tenants(services, "eval-strict-")


def test_a_state_update_is_made_checkpointable_and_usage_sums_either_form():
    update = {"usage": Usage(steps=1), "items": [Usage(tool_calls=2)], "n": 3}
    assert checkpointable(update) == {
        "usage": Usage(steps=1).model_dump(),
        "items": [Usage(tool_calls=2).model_dump()],
        "n": 3,
    }
    total = add_usage(Usage(steps=1), {"steps": 2, "tool_calls": 1})
    assert isinstance(total, dict) and (total["steps"], total["tool_calls"]) == (3, 1)
