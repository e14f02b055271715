"""An OpenAI-compatible chat-completions server that answers like the rules model, after a set latency.

``make bench`` uses it to measure what waiting on a real model costs in throughput: the answers are the workflows'
rules skills (so runs take the same paths as on the rules model), delivered over HTTP after ``latency_s``. The bench
runs it as a process of its own (``python -m evals.model_server --port N --latency-ms 300``), as a real model
endpoint is: in the bench's process it would share one interpreter lock with the SDK client that drives the runs,
and its CPU could not be told apart from the client's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from langchain_core.messages import convert_to_messages

from steward.models.rules import RulesChatModel, Skill
from steward.workflow import load_catalog


def chat_completion(
    number: int, model: str, tool_calls: list[tuple[str, str, dict[str, Any]]], text: str | None, usage: tuple[int, int]
) -> dict[str, Any]:
    """An OpenAI chat-completion body: ``tool_calls`` as ``(id, name, arguments)``, ``usage`` as (prompt,
    completion) tokens."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args, default=str)}}
            for call_id, name, args in tool_calls
        ]
    prompt, completion = usage
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def model_server(skills: dict[str, Skill], latency_s: float) -> FastAPI:
    """The app: ``POST /v1/chat/completions`` with a forced tool choice, answered by the skill of that name."""
    app = FastAPI()
    model = RulesChatModel(skills=skills)
    served = 0

    @app.get("/ok")
    async def ok() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> JSONResponse:
        nonlocal served
        body: dict[str, Any] = await request.json()
        await asyncio.sleep(latency_s)
        choice = body.get("tool_choice")
        name = choice["function"]["name"] if isinstance(choice, dict) else choice
        answer = model.invoke(convert_to_messages(body["messages"]), tools=body.get("tools"), tool_choice=name)
        served += 1
        usage = answer.usage_metadata or {"input_tokens": 0, "output_tokens": 0}
        calls = [(call["id"] or f"call_{served}", call["name"], call["args"]) for call in answer.tool_calls]
        tokens = (usage["input_tokens"], usage["output_tokens"])
        return JSONResponse(chat_completion(served, body["model"], calls, answer.text or None, tokens))

    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the catalog's skills on ``--port`` (loopback), answering after ``--latency-ms``."""
    parser = argparse.ArgumentParser(prog="python -m evals.model_server", description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=300.0)
    args = parser.parse_args(argv)
    app = model_server(load_catalog("graphs").skills, args.latency_ms / 1000)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
