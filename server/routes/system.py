"""Liveness and server info (what Studio and the SDK probe first)."""

from __future__ import annotations

from typing import Any

import langgraph.version
from fastapi import APIRouter

import steward

router = APIRouter(tags=["system"])


@router.get("/ok")
async def ok() -> dict[str, bool]:
    return {"ok": True}


@router.get("/info")
async def info() -> dict[str, Any]:
    return {
        "version": steward.__version__,
        "langgraph_py_version": langgraph.version.__version__,
        "flags": {"assistants": True, "crons": False, "langsmith": False},
    }
