"""The FastAPI application: LangGraph Server-compatible API, governance endpoints, in-process workers.

``uvicorn server.app:create_app --factory`` or ``steward serve``. Interactive docs at ``/docs``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
import orjson
import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import steward
from server.routes import (
    approvals,
    assistants,
    controls,
    escalations,
    keys,
    runs,
    stats,
    system,
    threads,
    ui,
    webhooks,
)
from server.schemas import ERRORS
from steward.errors import StewardError
from steward.services import Services
from steward.serving import tune_garbage_collector
from steward.settings import Settings
from steward.worker import WorkerPool

log = logging.getLogger(__name__)
access = logging.getLogger("steward.access")
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
RETRY_AFTER_S = 5
"""What a 503 (database unreachable) tells clients to wait before retrying."""


class JsonBodies:
    """Every request body of this API is JSON, however it is labelled: LangGraph Studio sends ``text/plain``,
    curl ``-d`` sends form-urlencoded, some clients send no content type. The edge also refuses what Postgres
    would choke on: a body over ``max_bytes`` (413), JSON that is malformed or carries lone surrogates, and NUL
    characters in any string, path or query (422)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            return await _refuse(send, 422, "NUL characters are not allowed in paths or queries")
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                return await _refuse(send, 413, f"request body over {self.max_bytes} bytes")
            if not message.get("more_body"):
                break
        if body.strip():
            try:
                problem = _nul_in(orjson.loads(body), "body")
            except orjson.JSONDecodeError as exc:
                problem = f"malformed JSON body ({exc})"
            if problem:
                return await _refuse(send, 422, problem)
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
        scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class AccessLog:
    """One line per request at INFO on ``steward.access``: method, path, status, latency, tenant and key name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            principal = scope.get("state", {}).get("principal")
            access.info(
                "%s %s %d %.1fms tenant=%s key=%s",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
                principal.tenant if principal else "-",
                principal.identity if principal else "-",
            )


def _nul_in(value: Any, where: str) -> str | None:
    """Where a NUL character hides in a JSON value (Postgres refuses them in text and jsonb), if anywhere."""
    if isinstance(value, str):
        return f"{where}: NUL characters are not allowed in strings" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if problem := _nul_in(key, where) or _nul_in(item, f"{where}.{key}"):
                return problem
    if isinstance(value, list):
        for index, item in enumerate(value):
            if problem := _nul_in(item, f"{where}.{index}"):
                return problem
    return None


async def _refuse(send: Send, status: int, detail: str) -> None:
    payload = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _explain(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"] if part != "body") or "body"
        if error["type"] == "json_invalid":
            problems.append(f"malformed JSON body ({error.get('ctx', {}).get('error', 'parse error')})")
        else:
            problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; its lifespan opens Postgres, the notifier and ``settings.workers`` background executors."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None]:
        async with Services.open(settings, listen=True) as services:
            app.state.services, app.state.key_cache, app.state.inflight = services, {}, set()
            tune_garbage_collector()
            workers = WorkerPool(services, settings.workers)
            await workers.start()
            try:
                yield
            finally:
                await workers.stop()
                if app.state.inflight:  # let runs accepted by this process finish (bounded)
                    await asyncio.wait(app.state.inflight, timeout=settings.run_lease_s)

    app = FastAPI(
        title="Steward",
        version=steward.__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        responses=ERRORS,
        description="Governed agent workflows on LangGraph: a LangGraph Server-compatible API "
        "(use the official langgraph-sdk client) plus governance endpoints.",
    )
    app.add_middleware(JsonBodies, max_bytes=settings.max_body_bytes)
    if settings.access_log:
        app.add_middleware(AccessLog)
    # LangGraph Studio calls from its page in the browser, a public origin reaching 127.0.0.1: answer its
    # preflights (Chrome's private-network ones too) as `langgraph dev` does
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        allow_credentials=True,
        allow_private_network=True,
        expose_headers=["content-location", "x-pagination-next", "x-pagination-total"],
    )

    @app.exception_handler(StewardError)
    async def refused(_: Request, exc: StewardError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _explain(exc)}, status_code=422)

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(PoolTimeout)
    async def database_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": "the database is unreachable; retry shortly"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; the server log has the details"}, status_code=500)

    # Interactive docs: Swagger UI 5 (it reads OpenAPI 3.1) from the fastapi-offline wheel, so /docs needs no CDN.
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    app.mount("/ui/assets", ui.ASSETS, name="ui-assets")

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="Steward API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="",
        )

    for router in (
        system.router,
        assistants.router,
        threads.router,
        runs.router,
        approvals.router,
        keys.router,
        controls.router,
        escalations.router,
        stats.router,
        webhooks.router,
        ui.router,
    ):
        app.include_router(router)
    return app
