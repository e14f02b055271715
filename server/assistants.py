"""Each workflow is an assistant; its graph id works as its assistant id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from steward.errors import NotFound
from steward.workflow import Catalog, Workflow, assistant_id

SINCE = datetime(2026, 11, 1, tzinfo=UTC)


def resolve(catalog: Catalog, assistant: str) -> Workflow:
    """The workflow behind an assistant id or a graph id."""
    for name, workflow in catalog.items():
        if assistant in (name, assistant_id(name)):
            return workflow
    raise NotFound(f"unknown assistant {assistant!r}; known graph ids: {', '.join(sorted(catalog))}")


AssistantField = Literal[
    "assistant_id",
    "graph_id",
    "name",
    "description",
    "config",
    "context",
    "metadata",
    "version",
    "created_at",
    "updated_at",
]
"""The fields of an assistant (what a search may ``select``)."""


def describe(workflow: Workflow) -> dict[str, Any]:
    return {
        "assistant_id": assistant_id(workflow.name),
        "graph_id": workflow.name,
        "name": workflow.name,
        "description": workflow.description,
        "config": {},
        "context": {},
        "metadata": {
            "created_by": "system",
            "mode": workflow.mode,
            "scopes": list(workflow.scopes),
            "tools": [spec.describe() for spec in workflow.tools],  # the contracts the workflow runs under
        },
        "version": 1,
        "created_at": SINCE,
        "updated_at": SINCE,
    }
