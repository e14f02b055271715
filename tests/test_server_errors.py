"""Client mistakes get 4xx with a message that says what to fix; keys and tenants wall callers off."""

from __future__ import annotations

import httpx
import pytest
from langgraph_sdk.errors import NotFoundError

from steward import audit

pytestmark = pytest.mark.usefixtures("seeded")


@pytest.fixture
async def http(server, api_keys):
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["admin"]}) as client:
        yield client


@pytest.fixture
async def thread_id(http) -> str:
    return (await http.post("/threads", json={})).json()["thread_id"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("post", "/threads/{t}/runs/wait", b'{"assistant_id": "refund", "input": {', 422, "malformed JSON body"),
        (
            "post",
            "/threads/{t}/runs/wait",
            {"assistant_id": "payroll", "input": {}},
            404,
            "unknown assistant 'payroll'",
        ),
        (
            "post",
            "/threads/nope/runs/wait",
            {"assistant_id": "refund", "input": {"ticket_id": "T-1"}},
            404,
            "unknown thread 'nope'",
        ),
        (
            "post",
            "/threads/{t}/runs/wait",
            {"assistant_id": "refund", "input": {"ticket": "T-1"}},
            422,
            "ticket_id: Field required",
        ),
        ("post", "/threads/{t}/runs/wait", {"input": {"ticket_id": "T-1"}}, 422, "assistant_id: Field required"),
        (
            "post",
            "/threads/{t}/runs/wait",
            {"assistant_id": "refund", "input": {"ticket_id": "T-1"}, "inptu": 1},
            422,
            "inptu: Extra inputs are not permitted",
        ),
        ("post", "/threads/{t}/runs/wait", {"assistant_id": "refund"}, 422, "send input to start the workflow"),
        (
            "post",
            "/threads/{t}/runs/wait",
            {"assistant_id": "refund", "command": {"resume": {"decisions": []}}},
            422,
            "decisions",
        ),
        (
            "post",
            "/threads/{t}/runs/wait",
            {"assistant_id": "refund", "command": {"goto": "execute"}},
            422,
            "only command.resume is supported",
        ),
        (
            "post",
            "/threads/{t}/runs/wait",
            {"assistant_id": "refund", "input": {"ticket_id": "T-AUTO"}, "multitask_strategy": "rollback"},
            422,
            "'reject' or 'enqueue'",
        ),
        (
            "post",
            "/threads/{t}/runs/wait",
            {"assistant_id": "refund", "input": {"ticket_id": "T-AUTO"}, "interrupt_before": ["execute"]},
            422,
            "approvals come from policy",
        ),
        (
            "post",
            "/threads/{t}/runs/wait",
            {"assistant_id": "refund", "input": {"ticket_id": "T-AUTO"}, "context": {"budget": {"max_tool_calls": -1}}},
            422,
            "context.budget",
        ),
        (
            "post",
            "/threads/{t}/runs/wait",
            {"assistant_id": "refund", "input": {"ticket_id": "T-AUTO"}, "context": {"models": {"huge": "rules"}}},
            422,
            "unknown model tier",
        ),
        (
            "post",
            "/threads/{t}/runs/wait",
            {"assistant_id": "refund", "input": {"ticket_id": "T-AUTO"}, "context": {"models": {"small": "openai:x"}}},
            422,
            "context.models routes small to an openai: model, but this deployment has no",
        ),
        (
            "post",
            "/threads/{t}/runs/wait",
            {"assistant_id": "refund", "command": {"resume": {"decisions": [{"type": "approve"}]}}},
            409,
            "not waiting for an approval",
        ),
        (
            "post",
            "/threads/{t}/runs/stream",
            {"assistant_id": "refund", "input": {"ticket_id": "T-1"}, "stream_mode": "events"},
            422,
            "stream_mode",
        ),
        ("post", "/threads", {"thread_id": "bad id!"}, 422, "thread_id"),
        ("post", "/threads/search", {"status": "sleeping"}, 422, "status"),
        ("patch", "/threads/{t}", {"metadata": "not an object"}, 422, "metadata"),
        ("get", "/threads/{t}/runs/00000000-0000-0000-0000-000000000000", None, 404, "unknown run"),
        ("get", "/assistants/payroll/graph", None, 404, "unknown assistant"),
        ("post", "/approvals/{t}", {"decision": {"type": "approve"}, "decisions": []}, 422, "send one of"),
        ("post", "/approvals/{t}", {"decision": {"type": "approve"}}, 422, "never run a workflow"),
        (
            "post",
            "/threads/{t}/runs/00000000-0000-0000-0000-000000000000/cancel?action=rollback",
            None,
            422,
            "governed writes are not undone",
        ),
        ("post", "/threads/{t}/runs/00000000-0000-0000-0000-000000000000/cancel?action=undo", None, 422, "action"),
    ],
)
async def test_mistakes_are_4xx_with_a_message_and_write_nothing(
    http, thread_id, services, tenant, method, path, body, status, message
):
    path = path.format(t=thread_id)
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body} if body is not None else {}
    response = await getattr(http, method)(path, **kwargs)

    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert (await http.get(f"/threads/{thread_id}")).json()["status"] == "idle"
    assert (await http.get(f"/threads/{thread_id}/runs")).json() == []
    assert await audit.events_for(services.pool, thread_id, tenant) == []


@pytest.mark.parametrize("content_type", ["text/plain;charset=UTF-8", "application/x-www-form-urlencoded", None])
async def test_json_bodies_are_read_as_json_however_labelled(http, thread_id, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = await http.post(
        f"/threads/{thread_id}/runs/wait",
        content=b'{"assistant_id": "refund", "input": {"ticket_id": "T-AUTO"}}',
        headers=headers,
    )
    assert response.status_code == 200 and response.json()["outcome"]["status"] == "completed"


async def test_interactive_docs_are_served_without_a_cdn(server):
    async with httpx.AsyncClient(base_url=server) as anonymous:
        page = await anonymous.get("/docs")
        script = await anonymous.get("/docs-assets/swagger-ui-bundle.js")
        spec = await anonymous.get("/openapi.json")
    assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text and "cdn." not in page.text
    assert script.status_code == 200 and len(script.content) > 100_000
    assert "/threads/{thread_id}/runs/wait" in spec.json()["paths"]


async def test_requests_without_a_valid_key_are_401(server):
    async with httpx.AsyncClient(base_url=server) as anonymous:
        missing = await anonymous.post("/threads", json={})
        wrong = await anonymous.post("/threads", json={}, headers={"x-api-key": "stw_not-a-key"})
        ok = await anonymous.get("/ok")
    assert (missing.status_code, wrong.status_code, ok.status_code) == (401, 401, 200)
    assert "x-api-key" in missing.json()["detail"] and "unknown or revoked" in wrong.json()["detail"]


async def test_roles_limit_what_a_key_may_do(sdk, server, api_keys):
    runner = sdk("runner")
    thread = await runner.threads.create()
    paused = await runner.runs.wait(thread["thread_id"], "refund", input={"ticket_id": "T-BIG"})
    assert "__interrupt__" in paused

    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["runner"]}) as as_runner:
        resume = await as_runner.post(
            f"/threads/{thread['thread_id']}/runs/wait",
            json={"assistant_id": "refund", "command": {"resume": {"decisions": [{"type": "approve"}]}}},
        )
        listing = await as_runner.get("/approvals")
    assert resume.status_code == 403 and "approver" in resume.json()["detail"]
    assert listing.status_code == 403
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["approver"]}) as as_approver:
        start = await as_approver.post("/threads", json={})
    assert start.status_code == 403 and "runner" in start.json()["detail"]


async def test_an_approver_may_not_approve_a_run_they_started(sdk, server, api_keys):
    admin = sdk("admin")  # admin holds every role, so it may start and would otherwise approve
    thread = await admin.threads.create()
    await admin.runs.wait(thread["thread_id"], "refund", input={"ticket_id": "T-BIG"})
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["admin"]}) as http:
        response = await http.post(f"/approvals/{thread['thread_id']}", json={"decision": {"type": "approve"}})
    assert response.status_code == 403 and "may not approve" in response.json()["detail"]
    assert (await admin.threads.get(thread["thread_id"]))["status"] == "interrupted"


async def test_another_tenants_threads_are_invisible(sdk, services, server):
    from steward import keys

    mine = sdk("runner")
    thread = await mine.threads.create(metadata={"secret": True})
    await mine.runs.wait(thread["thread_id"], "refund", input={"ticket_id": "T-BIG"})
    other_key = await keys.create_key(services.pool, tenant="some-other-tenant", roles=["admin"])
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": other_key}) as other:
        paths = [
            f"/threads/{thread['thread_id']}",
            f"/threads/{thread['thread_id']}/state",
            f"/threads/{thread['thread_id']}/audit",
            f"/threads/{thread['thread_id']}/runs",
        ]
        assert [(await other.get(p)).status_code for p in paths] == [404, 404, 404, 404]
        resume = await other.post(
            f"/threads/{thread['thread_id']}/runs/wait",
            json={"assistant_id": "refund", "command": {"resume": {"decisions": [{"type": "approve"}]}}},
        )
        assert resume.status_code == 404
        assert (await other.post("/threads/search", json={"metadata": {"secret": True}})).json() == []
        assert thread["thread_id"] not in [a["thread_id"] for a in (await other.get("/approvals")).json()]
        assert (await other.delete(f"/threads/{thread['thread_id']}")).status_code == 404
    assert (await mine.threads.get(thread["thread_id"]))["status"] == "interrupted"


async def test_thread_lifecycle_errors(sdk):
    client = sdk()
    thread = await client.threads.create(thread_id="fixed-id-" + client.http.client.headers["x-api-key"][-6:])
    again = await client.threads.create(thread_id=thread["thread_id"], if_exists="do_nothing")
    assert again["thread_id"] == thread["thread_id"]
    with pytest.raises(httpx.HTTPStatusError) as conflict:
        await client.threads.create(thread_id=thread["thread_id"])
    assert conflict.value.response.status_code == 409
    await client.threads.delete(thread["thread_id"])
    with pytest.raises(NotFoundError):
        await client.threads.get(thread["thread_id"])
