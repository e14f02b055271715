"""Liveness and server info (what Studio and the SDK probe first)."""

from __future__ import annotations

import hmac
from typing import Any

import langgraph.version
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

import steward
from server.deps import ServicesDep
from steward import metrics
from steward.errors import Forbidden

LOOPBACK = {"127.0.0.1", "::1", "localhost"}

router = APIRouter(tags=["system"])


@router.get("/ok")
async def ok() -> dict[str, bool]:
    return {"ok": True}


@router.get("/metrics", response_class=PlainTextResponse, responses={403: {"description": "not an allowed scraper"}})
async def prometheus_metrics(request: Request, services: ServicesDep) -> Response:
    """Prometheus metrics of every tenant (runs, latency, tool calls, policy decisions, budget hits,
    escalations, cost, approvals pending, queue depth, kill switches, lease takeovers). Operators only: send
    ``Authorization: Bearer <STEWARD_METRICS_TOKEN>``; without a token configured, only loopback clients."""
    token = services.settings.metrics_token
    sent = request.headers.get("authorization", "")
    if token is not None:
        if not hmac.compare_digest(sent.encode(), f"Bearer {token.get_secret_value()}".encode()):
            raise Forbidden("send Authorization: Bearer <STEWARD_METRICS_TOKEN> to read /metrics")
    elif request.client is None or request.client.host not in LOOPBACK:
        raise Forbidden("/metrics answers loopback clients only; set STEWARD_METRICS_TOKEN to scrape it remotely")
    return Response(await metrics.render(services.pool), media_type=metrics.CONTENT_TYPE)


@router.get("/info")
async def info() -> dict[str, Any]:
    return {
        "version": steward.__version__,
        "langgraph_py_version": langgraph.version.__version__,
        "flags": {
            "assistants": True,
            "crons": False,
            "langsmith": False,
            "langsmith_tracing_replicas": False,
            "langsmith_tracing_session_on_runs": False,
        },
        "host": {
            "kind": "self-hosted",
            "project_id": None,
            "host_revision_id": None,
            "revision_id": None,
            "tenant_id": None,
        },
    }
