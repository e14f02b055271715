"""The HTTP API driven by the official langgraph-sdk client against a real `steward serve`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import get_args

import httpx

from graphs import WORKFLOWS
from server.assistants import AssistantField, assistant_id, describe
from steward.threads import PUBLIC_FIELDS, Thread
from tests.seeds import refunds

APPROVE = {"decisions": [{"type": "approve"}]}


async def test_assistants_are_the_workflows_with_graph_and_schemas(sdk):
    client = sdk()
    found = await client.assistants.search()
    assert [(a["graph_id"], a["assistant_id"]) for a in found] == [
        (name, assistant_id(name)) for name in sorted(["crm_update", "incident", "ping", "refund", "triage"])
    ]
    assert [a["graph_id"] for a in await client.assistants.search(limit=1, offset=3)] == ["refund"]
    assert (await client.assistants.get("refund"))["assistant_id"] == assistant_id("refund")
    refund = await client.assistants.get(assistant_id("refund"))
    assert refund["graph_id"] == "refund" and "billing:refunds:write" in refund["metadata"]["scopes"]
    contract = next(t for t in refund["metadata"]["tools"] if t["name"] == "create_refund")
    assert (contract["kind"], contract["owner"], contract["caps"]) == (
        "write",
        "billing-platform",
        {"max_amount_usd": "1000.00"},
    )
    assert await client.assistants.search(graph_id="payroll") == []

    graph = await client.assistants.get_graph("refund", xray=True)
    assert {n["id"] for n in graph["nodes"]} >= {"__start__", "intake", "policy_gate", "approval", "respond"}
    assert {"source": "policy_gate", "target": "approval", "conditional": True} in [
        {"source": e["source"], "target": e["target"], "conditional": e.get("conditional", False)}
        for e in graph["edges"]
    ]
    schemas = await client.assistants.get_schemas("refund")
    assert schemas["input_schema"]["required"] == ["ticket_id"]
    assert "services" not in schemas["context_schema"]["properties"]
    assert "outcome" in schemas["state_schema"]["properties"]


async def test_plain_graph_runs_with_durable_checkpoints(sdk):
    client = sdk()
    thread = await client.threads.create()
    result = await client.runs.wait(thread["thread_id"], "ping", input={"n": 7})
    assert result == {"n": 7, "received": True, "parity": "odd", "reply": "7 is odd"}
    history = await client.threads.get_history(thread["thread_id"])
    assert [h["metadata"]["step"] for h in history] == [3, 2, 1, 0, -1]


async def test_approval_round_trip_through_the_sdk(sdk, seeded, services):
    runner, approver = sdk("runner"), sdk("approver")
    thread = await runner.threads.create(metadata={"ticket": "T-BIG"})

    paused = await runner.runs.wait(thread["thread_id"], "refund", input={"ticket_id": "T-BIG"})
    request = paused["__interrupt__"][0]["value"]
    assert request["action_requests"][0]["args"]["amount_usd"] == "120.00"
    assert request["rule_id"] == "refund.needs_approval" and request["requested_by"] == f"{seeded}-runner"

    waiting = await runner.threads.search(status="interrupted", metadata={"ticket": "T-BIG"})
    assert [t["thread_id"] for t in waiting] == [thread["thread_id"]]
    assert list(waiting[0]["interrupts"].values())[0][0]["value"]["rule_id"] == "refund.needs_approval"
    state = await runner.threads.get_state(thread["thread_id"])
    assert state["next"] == ["approval"] and state["tasks"][0]["interrupts"][0]["value"] == request
    assert state["checkpoint"]["thread_id"] == thread["thread_id"]
    assert await refunds(services.pool, seeded) == []

    done = await approver.runs.wait(thread["thread_id"], "refund", command={"resume": APPROVE})
    assert done["outcome"]["status"] == "completed" and "__interrupt__" not in done
    assert [r["amount_usd"] for r in await refunds(services.pool, seeded)] == [Decimal("120.00")]
    assert (await runner.threads.get(thread["thread_id"]))["status"] == "idle"
    history = await runner.threads.get_history(thread["thread_id"], limit=50)
    assert len(history) > 5 and history[0]["values"]["outcome"]["status"] == "completed"
    listed = await runner.runs.list(thread["thread_id"])
    assert [r["status"] for r in listed] == ["success", "success"]


async def test_audit_endpoint_in_json_and_jsonl(sdk, server, api_keys, seeded):
    runner, approver = sdk("runner"), sdk("approver")
    thread = await runner.threads.create()
    await runner.runs.wait(thread["thread_id"], "refund", input={"ticket_id": "T-BIG"})
    await approver.runs.wait(thread["thread_id"], "refund", command={"resume": APPROVE})

    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["runner"]}) as http:
        events = (await http.get(f"/threads/{thread['thread_id']}/audit")).json()
        lines = (
            await http.get(f"/threads/{thread['thread_id']}/audit", headers={"accept": "application/x-ndjson"})
        ).text.splitlines()
    assert [json.loads(line) for line in lines] == events
    decided = next(e for e in events if e["type"] == "approval" and e["status"] == "approve")
    assert decided["detail"]["decided_by"] == f"{seeded}-approver" and decided["user_id"] == f"{seeded}-approver"
    assert events[-1]["type"] == "final" and events[-1]["status"] == "completed"


async def test_stream_sends_metadata_then_each_mode_then_end(sdk, seeded):
    client = sdk()
    thread = await client.threads.create()
    parts = [
        part
        async for part in client.runs.stream(
            thread["thread_id"],
            "refund",
            input={"ticket_id": "T-AUTO"},
            stream_mode=["values", "updates", "custom", "debug", "messages-tuple"],
        )
    ]

    events = [p.event for p in parts]
    assert events[0] == "metadata" and events[-1] == "end"
    assert parts[0].data["attempt"] == 1 and parts[0].data["run_id"]
    assert {"values", "updates", "custom", "debug", "messages"} <= set(events)
    nodes = [next(iter(p.data)) for p in parts if p.event == "updates"]
    assert nodes == ["intake", "lookup_invoice", "propose", "validate", "policy_gate", "execute", "verify", "respond"]
    assert [p.data for p in parts if p.event == "values"][-1]["outcome"]["status"] == "completed"
    assert {"step": "execute", "event": "tool_call", "status": "ok"} in [p.data for p in parts if p.event == "custom"]
    message, metadata = next(p.data for p in parts if p.event == "messages")
    assert message["tool_calls"][0]["name"] == "RefundRequest" and metadata["langgraph_node"] == "intake"


async def test_stream_of_a_run_that_pauses_ends_cleanly(sdk, seeded):
    client = sdk()
    thread = await client.threads.create()
    parts = [p async for p in client.runs.stream(thread["thread_id"], "refund", input={"ticket_id": "T-BIG"})]

    assert [p.event for p in parts][0] == "metadata" and parts[-1].event == "end"
    assert parts[-2].data["__interrupt__"][0]["value"]["rule_id"] == "refund.needs_approval"


async def test_background_run_join_and_records(sdk, seeded, services):
    client = sdk()
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "refund", input={"ticket_id": "T-AUTO"})
    assert run["status"] in ("pending", "running") and run["assistant_id"] == assistant_id("refund")

    final = await client.runs.join(thread["thread_id"], run["run_id"])

    assert final["outcome"]["status"] == "completed"
    assert (await client.runs.get(thread["thread_id"], run["run_id"]))["status"] == "success"
    assert len(await refunds(services.pool, seeded)) == 1


async def test_stateless_wait_runs_and_forgets_its_thread(sdk, seeded):
    client = sdk()
    result = await client.runs.wait(None, "refund", input={"ticket_id": "T-AUTO"})
    assert result["outcome"]["status"] == "completed"
    assert await client.threads.search(metadata={"stateless": True}) == []


async def test_governance_approvals_list_and_decide(sdk, server, api_keys, seeded, services):
    runner = sdk("runner")
    first = await runner.threads.create()
    second = await runner.threads.create()
    await runner.runs.wait(first["thread_id"], "refund", input={"ticket_id": "T-BIG"})
    await runner.runs.wait(second["thread_id"], "refund", input={"ticket_id": "T-INJECT-SMALL"})

    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["approver"]}) as http:
        pending = (await http.get("/approvals")).json()
        assert [(p["thread_id"], p["rule_id"]) for p in pending] == [
            (first["thread_id"], "refund.needs_approval"),
            (second["thread_id"], "refund.untrusted_text"),
        ]
        assert pending[0]["action"] == "create_refund" and pending[0]["risk"] == "high"
        assert pending[0]["args"]["amount_usd"] == "120.00" and pending[0]["age_s"] >= 0
        assert pending[0]["requested_by"] == f"{seeded}-runner"

        edited = await http.post(
            f"/approvals/{first['thread_id']}",
            json={
                "decision": {
                    "type": "edit",
                    "edited_action": {"name": "create_refund", "args": {"amount_usd": "90.00"}},
                },
                "comment": "partial refund agreed by phone",
            },
        )
        rejected = await http.post(
            f"/approvals/{second['thread_id']}", json={"decisions": [{"type": "reject", "message": "looks like fraud"}]}
        )
        assert (await http.get("/approvals")).json() == []

    assert edited.status_code == 200 and edited.json()["status"] == "completed"
    assert rejected.json()["status"] == "rejected" and rejected.json()["outcome"]["reason"] == "looks like fraud"
    assert [r["amount_usd"] for r in await refunds(services.pool, seeded)] == [Decimal("90.00")]


async def test_stateless_stream(sdk, seeded):
    parts = [p async for p in sdk().runs.stream(None, "refund", input={"ticket_id": "T-AUTO"}, stream_mode="updates")]
    assert parts[0].event == "metadata" and parts[-1].event == "end"
    assert next(iter(parts[-2].data)) == "respond"


async def test_studio_can_reach_the_server_from_the_browser(server, sdk):
    preflight = httpx.options(
        f"{server}/assistants/search",
        headers={
            "Origin": "https://smith.langchain.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,content-type",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://smith.langchain.com"
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    assert preflight.headers["access-control-allow-private-network"] == "true"
    assert (
        "access-control-allow-origin"
        not in httpx.options(
            f"{server}/threads", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        ).headers
    )

    client = sdk()
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "ping", input={"n": 2})
    listed = await client.threads.search(metadata={"assistant_id": assistant_id("ping")})
    assert thread["thread_id"] in [t["thread_id"] for t in listed]  # Studio's thread list filter
    assert (await client.threads.get(thread["thread_id"]))["metadata"]["graph_id"] == "ping"
    assert await client.threads.count(metadata={"graph_id": "ping"}) >= 1
    assert await client.assistants.count() == 5 and await client.assistants.count(graph_id="refund") == 1


async def test_state_at_a_checkpoint_is_read_within_the_path_thread_only(sdk):
    client = sdk()
    mine, other = (await client.threads.create())["thread_id"], (await client.threads.create())["thread_id"]
    await client.runs.wait(mine, "ping", input={"n": 2})
    await client.runs.wait(other, "ping", input={"n": 3})
    history = await client.threads.get_history(mine)
    middle = history[2]
    assert middle["checkpoint_id"] == middle["checkpoint"]["checkpoint_id"]
    assert middle["parent_checkpoint_id"] == history[3]["checkpoint_id"]
    at = await client.threads.get_state(mine, checkpoint_id=middle["checkpoint_id"])
    assert at["checkpoint_id"] == middle["checkpoint_id"] and at["values"] == middle["values"]
    assert at["metadata"]["graph_id"] == "ping" and at["metadata"]["run_attempt"] == 1
    assert at["tasks"][0]["path"] and at["metadata"]["assistant_id"] == assistant_id("ping")
    picked = await client.threads.get_state(mine, checkpoint={"checkpoint_id": middle["checkpoint_id"]})
    assert picked["checkpoint_id"] == middle["checkpoint_id"]

    theirs = (await client.threads.get_history(other))[0]["checkpoint_id"]
    for attempt in (
        client.threads.get_state(mine, checkpoint_id=theirs),
        client.threads.get_state(mine, checkpoint={"checkpoint_id": theirs, "thread_id": other}),
    ):
        try:
            await attempt
            raise AssertionError("another thread's checkpoint was served")
        except httpx.HTTPStatusError as exc:
            assert exc.response.status_code == 404 and "no checkpoint" in exc.response.text


async def test_searches_page_with_headers_and_select_fields(server, api_keys):
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["runner"]}) as http:
        label = {"batch": "paging"}
        made = [(await http.post("/threads", json={"metadata": label})).json()["thread_id"] for _ in range(3)]
        first = await http.post("/threads/search", json={"metadata": label, "limit": 2})
        assert len(first.json()) == 2
        assert (first.headers["x-pagination-next"], first.headers["x-pagination-total"]) == ("2", "3")
        last = await http.post("/threads/search", json={"metadata": label, "limit": 2, "offset": 2})
        assert "x-pagination-next" not in last.headers and last.headers["x-pagination-total"] == "3"
        assert {t["thread_id"] for t in [*first.json(), *last.json()]} == set(made)

        slim = await http.post("/threads/search", json={"metadata": label, "select": ["thread_id", "status"]})
        assert [set(t) for t in slim.json()] == [{"thread_id", "status"}] * 3
        bad = await http.post("/threads/search", json={"select": ["thread_id", "secrets"]})
        assert bad.status_code == 422 and "select" in bad.json()["detail"] and "'thread_id'" in bad.json()["detail"]

        assistants = await http.post("/assistants/search", json={"limit": 2, "select": ["assistant_id", "graph_id"]})
        assert [set(a) for a in assistants.json()] == [{"assistant_id", "graph_id"}] * 2
        assert (assistants.headers["x-pagination-next"], assistants.headers["x-pagination-total"]) == ("2", "3")


def test_a_thread_shows_exactly_the_fields_a_search_may_select():
    now = datetime.now(UTC)
    thread = Thread(thread_id="t", tenant="a", workflow=None, created_by="x", created_at=now, updated_at=now)
    assert set(thread.public()) == PUBLIC_FIELDS
    assert set(describe(WORKFLOWS["ping"])) == set(get_args(AssistantField))
