"""Compare the response shapes of two LangGraph Server-compatible servers on the calls Studio and the SDK make.

Used to hold Steward against ``langgraph dev`` (langgraph-cli with the ``inmem`` extra, in a venv of its own, with
this project installed into it)::

    langgraph dev --no-browser --port 2024          # in that venv, from this directory
    steward serve --port 8123
    python -m evals.compare_server http://127.0.0.1:2024 http://127.0.0.1:8123 --key RUNNER --approver-key APPROVER

Both servers get the same calls through the official client; the shapes (keys and JSON types, recursively) of
the answers are printed side by side: keys only the reference has, keys only the candidate has, and type
differences. Values are not compared (ids and times differ). Exit 1 if the candidate lacks a key the reference
sends. ``tests/test_studio_shapes.py`` pins what this comparison found.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

Shape = Any
"""``"str"``, ``"int"``, ... for a scalar, ``{key: shape}`` for an object, ``[shape]`` for a list (its first
element's shape; ``[]`` when empty)."""


ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def shape(value: Any) -> Shape:
    """The JSON shape of ``value``; an object keyed by ids (a thread's ``interrupts``) is a map: ``{"<id>": ...}``."""
    if isinstance(value, dict):
        if value and all(ID.match(key) for key in value):
            return {"<id>": shape(next(iter(value.values())))}
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if value is None:
        return "null"
    return type(value).__name__


def differences(reference: Shape, candidate: Shape, where: str = "") -> list[tuple[str, str]]:
    """(kind, path) of every difference: ``missing`` (only in the reference), ``extra`` (only in the candidate),
    ``type`` (both, different JSON types; ``null`` against anything is not a difference)."""
    found: list[tuple[str, str]] = []
    if isinstance(reference, dict) and isinstance(candidate, dict):
        for key in reference.keys() - candidate.keys():
            found.append(("missing", f"{where}.{key}"))
        for key in candidate.keys() - reference.keys():
            found.append(("extra", f"{where}.{key}"))
        for key in reference.keys() & candidate.keys():
            found += differences(reference[key], candidate[key], f"{where}.{key}")
    elif isinstance(reference, list) and isinstance(candidate, list):
        if reference and candidate:
            found += differences(reference[0], candidate[0], f"{where}[]")
    elif "null" not in (reference, candidate) and type(reference) is not type(candidate):
        found.append(("type", f"{where}: {_name(reference)} vs {_name(candidate)}"))
    elif isinstance(reference, str) and reference != candidate and "null" not in (reference, candidate):
        found.append(("type", f"{where}: {reference} vs {candidate}"))
    return sorted(found)


def _name(value: Shape) -> str:
    return "object" if isinstance(value, dict) else "array" if isinstance(value, list) else str(value)


Call = Callable[[LangGraphClient, dict[str, Any]], Awaitable[Any]]


def calls(workflow: str, run_input: dict[str, Any], resume: dict[str, Any]) -> list[tuple[str, Call]]:
    """The calls, in order; each may read what earlier ones left in ``memo`` (the thread, the run, a checkpoint)."""

    async def create_thread(c: LangGraphClient, memo: dict[str, Any]) -> Any:
        memo["thread"] = await c.threads.create(metadata={"purpose": "shape comparison"})
        return memo["thread"]

    async def wait(c: LangGraphClient, memo: dict[str, Any]) -> Any:
        return await c.runs.wait(memo["thread"]["thread_id"], workflow, input=run_input)

    async def state(c: LangGraphClient, memo: dict[str, Any]) -> Any:
        memo["state"] = await c.threads.get_state(memo["thread"]["thread_id"])
        return memo["state"]

    async def runs(c: LangGraphClient, memo: dict[str, Any]) -> Any:
        memo["runs"] = await c.runs.list(memo["thread"]["thread_id"])
        return memo["runs"]

    def thread(c: LangGraphClient, memo: dict[str, Any]) -> str:
        return memo["thread"]["thread_id"]

    async def assistants(c: LangGraphClient, memo: dict[str, Any]) -> Any:
        found = await c.assistants.search(graph_id=workflow)
        memo["assistant"] = found[0]["assistant_id"]
        return found

    return [
        ("GET /info", lambda c, m: c.http.get("/info")),
        ("POST /assistants/search", assistants),
        ("POST /assistants/count", lambda c, m: c.assistants.count(graph_id=workflow)),
        ("GET /assistants/{id}", lambda c, m: c.assistants.get(m["assistant"])),
        ("GET /assistants/{id}/graph", lambda c, m: c.assistants.get_graph(m["assistant"])),
        ("GET /assistants/{id}/schemas", lambda c, m: c.assistants.get_schemas(m["assistant"])),
        ("GET /assistants/{id}/subgraphs", lambda c, m: c.assistants.get_subgraphs(m["assistant"])),
        ("POST /threads", create_thread),
        ("POST /threads/{id}/runs/wait (input)", wait),
        ("GET /threads/{id}", lambda c, m: c.threads.get(thread(c, m))),
        ("GET /threads/{id}/state", state),
        (
            "GET /threads/{id}/state/{checkpoint_id}",
            lambda c, m: c.threads.get_state(thread(c, m), checkpoint_id=m["state"]["checkpoint"]["checkpoint_id"]),
        ),
        ("POST /threads/{id}/history", lambda c, m: c.threads.get_history(thread(c, m), limit=2)),
        (
            "POST /threads/search (Studio's list)",
            lambda c, m: c.threads.search(metadata={"graph_id": workflow}, limit=5),
        ),
        ("POST /threads/count", lambda c, m: c.threads.count(metadata={"graph_id": workflow})),
        ("GET /threads/{id}/runs", runs),
        ("GET /threads/{id}/runs/{run_id}", lambda c, m: c.runs.get(thread(c, m), m["runs"][0]["run_id"])),
        (
            "POST /threads/{id}/runs/wait (resume)",
            lambda c, m: m["approver"].runs.wait(
                thread(c, m), workflow, command={"resume": resume}, **m["approver_context"]
            ),
        ),
        ("GET /threads/{id} (after resume)", lambda c, m: c.threads.get(thread(c, m))),
    ]


async def collect(
    url: str, api_key: str | None, approver_key: str | None, plan: list[tuple[str, Call]]
) -> dict[str, Shape]:
    """Each call's answer's shape (or the error it raised, by name). The resume is sent with ``approver_key``; a
    server without keys (``langgraph dev``) is told the approver in the run context instead, since a requester
    may not approve their own request."""
    shapes: dict[str, Shape] = {}
    async with get_client(url=url, api_key=api_key) as client, get_client(url=url, api_key=approver_key) as approver:
        context = {} if approver_key else {"context": {"user": "approver"}}
        memo: dict[str, Any] = {"approver": approver, "approver_context": context}
        for name, call in plan:
            try:
                shapes[name] = shape(await call(client, memo))
            except Exception as exc:  # a call the server lacks: report it, go on
                shapes[name] = f"error: {type(exc).__name__}: {str(exc)[:120]}"
    return shapes


async def compare(reference: str, candidate: str, args: argparse.Namespace) -> int:
    plan = calls(args.workflow, json.loads(args.input), json.loads(args.resume))
    ours, theirs = await asyncio.gather(
        collect(candidate, args.key, args.approver_key, plan), collect(reference, None, None, plan)
    )
    missing = 0
    for name, _ in plan:
        found = differences(theirs[name], ours[name])
        print(f"{name}: {'same shape' if not found else ''}")
        for kind, path in found:
            missing += kind == "missing"
            print(f"    {kind:8} {path}")
    if args.dump:
        with open(args.dump, "w") as out:
            json.dump({"reference": theirs, "candidate": ours}, out, indent=1, sort_keys=True)
    return 1 if missing else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.compare_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("reference", help="the server to match, e.g. langgraph dev at http://127.0.0.1:2024")
    parser.add_argument("candidate", help="the server under test, e.g. steward serve")
    parser.add_argument("--key", help="the candidate's API key (x-api-key), a runner's")
    parser.add_argument("--approver-key", help="the candidate's key for the resume (an approver's)")
    parser.add_argument("--workflow", default="refund")
    parser.add_argument("--input", default='{"ticket_id": "T-1002"}', help="a run input that pauses for approval")
    parser.add_argument("--resume", default='{"decisions": [{"type": "approve"}]}', help="what resumes it")
    parser.add_argument("--dump", help="write both sides' shapes to this JSON file")
    args = parser.parse_args(argv)
    return asyncio.run(compare(args.reference.rstrip("/"), args.candidate.rstrip("/"), args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
