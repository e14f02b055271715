"""A local stand-in for the LangSmith API: real HTTP, records what the client uploads."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request

from steward.serving import serve_in_thread


class FakeLangSmith:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        self.url = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
        async def anything(path: str, request: Request) -> Any:
            body = await request.body()
            self.requests.append((request.method, f"/{path}", body))
            now = datetime.now(UTC).isoformat()
            if path == "info":
                return {
                    "version": "0.0-fake",
                    "batch_ingest_config": {
                        "use_multipart_endpoint": True,
                        "size_limit": 100,
                        "size_limit_bytes": 20_000_000,
                        "scale_up_nthreads_limit": 1,
                        "scale_up_qsize_trigger": 1000,
                        "scale_down_nempty_trigger": 4,
                    },
                }
            if path in ("datasets", "sessions", "examples") and request.method == "GET":
                return []
            if path == "datasets" and request.method == "POST":
                data = json.loads(body)
                return {
                    "id": str(uuid.uuid4()),
                    "name": data["name"],
                    "created_at": now,
                    "modified_at": now,
                    "tenant_id": str(uuid.uuid4()),
                    "data_type": "kv",
                }
            if path.startswith("sessions"):
                data = json.loads(body) if body else {}
                return {
                    "id": data.get("id") or str(uuid.uuid4()),
                    "name": data.get("name") or "experiment",
                    "start_time": now,
                    "tenant_id": str(uuid.uuid4()),
                    "reference_dataset_id": data.get("reference_dataset_id"),
                }
            return {}

        return app

    def start(self) -> uvicorn.Server:
        server, base = serve_in_thread(self.app())
        self.url = base + ""
        return server

    def bodies(self, method: str, path: str) -> list[bytes]:
        return [body for m, p, body in self.requests if m == method and p == path]

    def multipart_names(self) -> list[str]:
        return [
            name.decode()
            for body in self.bodies("POST", "/runs/multipart")
            for name in re.findall(rb'name="([^"]+)"', body)
        ]
