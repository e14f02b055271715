"""Notifications: a run's webhook and a tenant's endpoints, delivered at least once from the outbox, retried,
with a delivery id and an HMAC signature; loopback receivers stand in for the world."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import httpx
from fastapi import FastAPI, Request, Response

from steward.serving import serve_in_thread
from steward.workflow import assistant_id


class Receiver:
    """Records every POST; answers 500 to the first ``fail_first`` of them."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[dict] = []
        self.fail_first = fail_first
        app = FastAPI()

        @app.post("/{path:path}")
        async def receive(path: str, request: Request) -> Response:
            body = await request.body()
            self.received.append({"path": path, "headers": dict(request.headers), "body": body})
            if len(self.received) <= self.fail_first:
                return Response(status_code=500)
            return Response(status_code=204)

        self.server, self.url = serve_in_thread(app)

    def events(self, name: str) -> list[dict]:
        return [r for r in self.received if r["headers"].get("x-steward-event") == name]

    async def wait_for(self, name: str, count: int = 1, timeout: float = 20) -> list[dict]:
        for _ in range(int(timeout / 0.1)):
            if len(found := self.events(name)) >= count:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError(f"{name}: {len(self.events(name))} of {count} arrived; got {self.received}")


async def test_endpoints_hear_of_approvals_escalations_switches_and_a_run_webhook(server, sdk, api_keys, seeded):
    receiver = Receiver(fail_first=1)  # the first delivery fails: it is retried under the same id
    try:
        async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["admin"]}) as admin:
            bad = await admin.post("/webhooks", json={"url": "ftp://example.com", "events": ["run.ended"]})
            assert bad.status_code == 422
            made = await admin.post(
                "/webhooks",
                json={
                    "url": f"{receiver.url}/hooks",
                    "events": ["approval.requested", "escalation.opened", "kill_switch.changed"],
                },
            )
            assert made.status_code == 201
            secret = made.json()["signing_secret"]

            runner = sdk("runner")
            paused = await runner.threads.create()
            await runner.runs.wait(paused["thread_id"], "refund", input={"ticket_id": "T-BIG"})
            escalated = await runner.threads.create()
            run = await runner.runs.create(
                escalated["thread_id"], "refund", input={"ticket_id": "T-NOINV"}, webhook=f"{receiver.url}/run-done"
            )
            await runner.runs.join(escalated["thread_id"], run["run_id"])
            await admin.post("/controls/kill-switches", json={"tool": "create_refund", "reason": "audit"})

            [approval] = await receiver.wait_for("approval.requested")
            assert json.loads(approval["body"])["thread_id"] == paused["thread_id"]
            [escalation] = await receiver.wait_for("escalation.opened")
            assert json.loads(escalation["body"])["reason_code"] == "validation.missing"
            [ended] = await receiver.wait_for("run.ended")
            assert ended["path"] == "run-done"
            record = json.loads(ended["body"])
            assert record["assistant_id"] == assistant_id("refund")  # the id the API gives the run
            assert (record["run_id"], record["status"], record["outcome"]["status"]) == (
                run["run_id"],
                "success",
                "escalated",
            )
            [switch] = await receiver.wait_for("kill_switch.changed")
            assert json.loads(switch["body"])["tool"] == "create_refund"

            for _ in range(100):  # the failed first delivery comes again after its backoff (2 s)
                if len(receiver.received) >= 5:
                    break
                await asyncio.sleep(0.1)
            for delivery in receiver.received:  # every delivery is signed over its exact body
                expected = "sha256=" + hmac.new(secret.encode(), delivery["body"], hashlib.sha256).hexdigest()
                assert delivery["headers"]["x-steward-signature"] == expected
            ids = [r["headers"]["x-steward-delivery"] for r in receiver.received]
            assert len(ids) == len(set(ids)) + 1  # the failed first delivery came again, with the same id
            log = (await admin.get("/webhooks/deliveries")).json()
            retried = next(d for d in log if str(d["id"]) == ids[0])
            assert retried["attempts"] == 2 and retried["delivered_at"] is not None
            listed = (await admin.get("/webhooks")).json()
            assert [e["url"] for e in listed["endpoints"]] == [f"{receiver.url}/hooks"]
            rotated = (await admin.post("/webhooks/signing-secret")).json()["signing_secret"]
            assert rotated != secret
            assert (await admin.delete(f"/webhooks/{listed['endpoints'][0]['id']}")).status_code == 204
            assert (await admin.delete(f"/webhooks/{listed['endpoints'][0]['id']}")).status_code == 404
            await admin.delete("/controls/kill-switches", params={"tool": "create_refund"})
        async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["runner"]}) as runner_http:
            assert (await runner_http.get("/webhooks")).status_code == 403
    finally:
        receiver.server.should_exit = True
