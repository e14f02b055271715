"""The FastAPI application: LangGraph Server-compatible API, governance endpoints, in-process workers.

``uvicorn server.app:create_app --factory`` or ``steward serve``. Interactive docs at ``/docs``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

import steward
from server.routes import approvals, assistants, runs, system, threads
from steward.errors import StewardError
from steward.services import Services
from steward.settings import Settings
from steward.worker import WorkerPool

log = logging.getLogger(__name__)


class PlainTextJson:
    """Bodies are JSON: LangGraph Studio may label them ``text/plain``, and some clients send no content type."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = [(k, v) for k, v in scope["headers"]
                       if not (k == b"content-type" and v.startswith(b"text/plain"))]
            if not any(k == b"content-type" for k, _ in headers):
                headers.append((b"content-type", b"application/json"))
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


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
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Services.open(settings, listen=True) as services:
            app.state.services, app.state.key_cache, app.state.inflight = services, {}, set()
            workers = WorkerPool(services, settings.workers)
            await workers.start()
            try:
                yield
            finally:
                await workers.stop()
                if app.state.inflight:  # let runs accepted by this process finish (bounded)
                    await asyncio.wait(app.state.inflight, timeout=settings.run_lease_s)

    app = FastAPI(title="Steward", version=steward.__version__, lifespan=lifespan,
                  description="Governed agent workflows on LangGraph: a LangGraph Server-compatible API "
                              "(use the official langgraph-sdk client) plus governance endpoints.")
    app.add_middleware(PlainTextJson)

    @app.exception_handler(StewardError)
    async def refused(_: Request, exc: StewardError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _explain(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; the server log has the details"}, status_code=500)

    for router in (system.router, assistants.router, threads.router, runs.router, approvals.router):
        app.include_router(router)
    return app
