"""The answers LangGraph Studio and the SDK read have the shapes ``langgraph dev`` gives, field by field.

``tests/data/langgraph_dev_shapes.json`` holds the shapes ``langgraph dev`` answered to the calls of
:func:`evals.compare_server.calls` on the refund workflow (recorded with ``python -m evals.compare_server``; see its
docstring to record them anew). Steward, driven through the same calls, may send more, but nothing the reference
sends may be missing unless it is listed below with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

from evals.compare_server import calls, collect, differences, shape

REFERENCE = json.loads((Path(__file__).parent / "data" / "langgraph_dev_shapes.json").read_text())["shapes"]

LEFT_OUT = {
    # the hosted platform's own fields: which deployment, plan and request served it
    "langgraph_api_url",
    "langgraph_api_version",
    "langgraph_auth_user_id",
    "langgraph_host",
    "langgraph_plan",
    "langgraph_request_id",
    "langgraph_version",
    # LangGraph Server copies the thread's metadata into every run's and checkpoint's; Steward keeps it on the thread
    "purpose",
    # checkpoint metadata: LangGraph drops thread_id from the config it copies; the checkpoint names the thread
    "thread_id",
    # a run's kwargs: LangGraph Server's executor internals (Steward keeps input, command, config, context, webhook)
    "checkpoint_during",
    "durability",
    "feedback_keys",
    "interrupt_after",
    "interrupt_before",
    "resumable",
    "stream_mode",
    "subgraphs",
    "temporary",
    "metadata",  # kwargs.config.metadata
}
"""Keys the reference sends that Steward leaves out, by their last path element."""

DECIMALS = {"amount_usd", "refunded_usd", "cost_usd"}
"""Money is a JSON string in Steward (exact), a float in ``langgraph dev``."""


async def test_every_field_studio_reads_is_sent_with_its_type(sdk, seeded, api_keys, server):
    plan = calls("refund", {"ticket_id": "T-BIG"}, {"decisions": [{"type": "approve"}]})
    ours = await collect(server, api_keys["runner"], api_keys["approver"], plan)
    problems = []
    for name, _ in plan:
        assert not str(ours[name]).startswith("error"), (name, ours[name])
        for kind, path in differences(REFERENCE[name], ours[name]):
            last = path.split(":")[0].rsplit(".", 1)[-1].removesuffix("[]")
            if kind == "missing" and last not in LEFT_OUT and "configurable" not in path:
                problems.append(f"{name}: {path} is missing")
            elif kind == "type" and last not in DECIMALS:
                problems.append(f"{name}: {path}")
    assert problems == []


def test_the_comparison_finds_what_differs():
    reference = {"a": 1, "b": {"c": "x", "d": [{"e": 1.5}]}, "ids": {"0b6f7c52-5d9e-4a3c-9f0e-1f2a3b4c5d6e": 1}}
    candidate = {"a": 2, "b": {"d": [{"e": "1.5"}], "f": None}, "ids": {"1b6f7c52-5d9e-4a3c-9f0e-1f2a3b4c5d6e": 3}}
    assert differences(shape(reference), shape(candidate)) == [
        ("extra", ".b.f"),
        ("missing", ".b.c"),
        ("type", ".b.d[].e: float vs str"),
    ]
