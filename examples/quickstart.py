"""Steward's quick start: a refund that needs approval, decided by a second person, through the official SDK.

Run it against ``make serve`` with the keys its first start printed::

    STEWARD_URL=http://127.0.0.1:8123 STEWARD_RUNNER_KEY=stw_... STEWARD_APPROVER_KEY=stw_... \\
        .venv/bin/python examples/quickstart.py
"""

import asyncio
import json
import os

from langgraph_sdk import get_client


async def main() -> None:
    url = os.environ.get("STEWARD_URL", "http://127.0.0.1:8123")
    runner = get_client(url=url, api_key=os.environ["STEWARD_RUNNER_KEY"])  # starts runs
    approver = get_client(url=url, api_key=os.environ["STEWARD_APPROVER_KEY"])  # decides approvals

    # 1. Start a refund of 120 USD: above the 50 USD auto-approval limit, so the run pauses for a human.
    thread = await runner.threads.create()
    paused = await runner.runs.wait(thread["thread_id"], "refund", input={"ticket_id": "T-1002"})
    request = paused["__interrupt__"][0]["value"]
    print("waiting for approval:", request["action_requests"][0]["description"])
    print(f"  rule {request['rule_id']} ({request['risk']} risk): {request['reason']}")

    # 2. The approver sees it in their inbox...
    inbox = await approver.http.get("/approvals")
    print("approvals pending:", [(a["thread_id"], a["action"], a["args"]["amount_usd"]) for a in inbox])

    # 3. ...and approves it; the run resumes and writes the refund.
    done = await approver.runs.wait(
        thread["thread_id"], "refund", command={"resume": {"decisions": [{"type": "approve"}]}}
    )
    print("outcome:", json.dumps(done["outcome"]))
    print("refund:", json.dumps(done["refund"]))

    # 4. The audit trail explains every step: who asked, what policy said, who approved, what was written.
    for event in await runner.http.get(f"/threads/{thread['thread_id']}/audit"):
        print(
            f"  {event['step']:<15} {event['type']:<10} {event['tool'] or '':<15} {event['status']:<17}"
            f" {event['rule_id'] or ''}  by {event['user_id']}"
        )


if __name__ == "__main__":
    asyncio.run(main())
