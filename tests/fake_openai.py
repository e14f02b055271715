"""A local OpenAI-compatible chat-completions server for tests: real HTTP, scripted answers and faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from evals.model_server import chat_completion
from steward.serving import serve_in_thread


@dataclass
class FakeOpenAI:
    """``answers`` maps a tool name to the arguments the "model" calls it with; ``faults`` is consumed one per
    request: an HTTP status to fail with, or ("sleep", seconds) to hang before answering."""

    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[Any] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    usage: tuple[int, int] = (1200, 80)
    url: str = ""
    models: list[str] = field(default_factory=lambda: ["gpt-4o-mini", "gpt-4o"])
    """What ``GET /v1/models`` lists."""
    key: str | None = None
    """When set, ``GET /v1/models`` answers 401 to any other bearer key."""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/models")
        async def listing(request: Request) -> JSONResponse:
            if self.key is not None and request.headers.get("authorization") != f"Bearer {self.key}":
                return JSONResponse({"error": {"message": "bad key", "type": "auth"}}, status_code=401)
            return JSONResponse({"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]})

        @app.post("/v1/chat/completions")
        async def complete(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append({"body": body, "authorization": request.headers.get("authorization")})
            fault = self.faults.pop(0) if self.faults else None
            if isinstance(fault, int):
                return JSONResponse(
                    {"error": {"message": f"fake {fault}", "type": "fake"}},
                    status_code=fault,
                    headers={"retry-after-ms": "10"},
                )
            if isinstance(fault, tuple):
                await asyncio.sleep(fault[1])
            name = body["tool_choice"]["function"]["name"]
            number = len(self.requests)
            calls = [(f"call_{number}", name, self.answers[name])]
            answer = chat_completion(number, body["model"], calls, None, self.usage)
            if body.get("stream"):
                return StreamingResponse(_as_stream(answer), media_type="text/event-stream")
            return JSONResponse(answer)

        return app

    def start(self) -> uvicorn.Server:
        server, base = serve_in_thread(self.app())
        self.url = base + "/v1"
        return server


def _as_stream(answer: dict[str, Any]) -> Iterator[str]:
    """A chat completion as the server-sent events of ``stream: true``: the message as one delta, then the finish
    reason with the usage, then ``[DONE]``."""
    choice = answer["choices"][0]
    message = choice["message"]
    delta = {"role": "assistant", "content": message["content"]}
    if "tool_calls" in message:
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
    head = {key: answer[key] for key in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    chunks = [
        head | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        head | {"choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]},
        head | {"choices": [], "usage": answer["usage"]},
    ]
    for chunk in chunks:
        yield f"data: {json.dumps(chunk)}\n\n"
    yield "data: [DONE]\n\n"
