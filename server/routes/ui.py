"""The operator console at ``/ui``: one static page and its script, talking to this API with the key a person
pastes (kept in the browser tab's session storage). Everything it shows comes from the API, which decides what a
key may see and do; the page needs no build step and loads nothing from elsewhere."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

UI = Path(__file__).resolve().parent.parent / "ui"
ASSETS = StaticFiles(directory=UI)
"""Mounted at ``/ui/assets``."""
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@router.get("/ui")
async def console() -> FileResponse:
    return FileResponse(UI / "index.html", headers=SECURITY_HEADERS)


@router.get("/ui/")
async def console_slash() -> RedirectResponse:
    return RedirectResponse("/ui")
