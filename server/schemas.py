"""Request bodies, in the shapes the official langgraph-sdk client sends. Unknown fields are refused."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from server.assistants import AssistantField
from steward.statuses import ThreadStatus
from steward.threads import THREAD_ID, ThreadField

MAX_METADATA_BYTES = 65_536
"""The largest metadata object (as JSON) a thread or run may carry."""


def _bounded(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    if metadata is not None and len(json.dumps(metadata)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata over {MAX_METADATA_BYTES} bytes as JSON")
    return metadata


WebhookUrl = Annotated[
    str, Field(min_length=8, max_length=2000, pattern=r"^https?://[^\s/]+(/\S*)?$", description="an http(s) URL")
]


class Error(BaseModel):
    """Every error answer: what went wrong and what to fix."""

    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Error, "description": text}
    for code, text in {
        401: "no or an unknown API key",
        403: "the key's role or identity may not do this",
        404: "unknown assistant, thread or run (another tenant's is unknown too)",
        409: "the thread is not in a state that allows this (busy, already ran, nothing to approve)",
        413: "request body too large",
        422: "the request is malformed or fails its schema",
        503: "the database is unreachable; retry after the Retry-After seconds",
    }.items()
}
"""The error answers every operation may give, declared in the OpenAPI document."""


Metadata = Annotated[dict[str, Any] | None, AfterValidator(_bounded)]
Limit = Annotated[int, Query(ge=1, le=1000, description="page size, 1 to 1000")]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssistantSearch(Body):
    graph_id: str | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=1_000_000)
    sort_by: Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"] | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[AssistantField] | None = None


class ThreadTtl(Body):
    """LangGraph Server's thread TTL: delete the thread ``ttl`` minutes from now (once it is finished)."""

    ttl: float = Field(gt=0, le=60 * 24 * 3650)
    strategy: Literal["delete"] = "delete"


Ttl = Annotated[float, Field(gt=0, le=60 * 24 * 3650)] | ThreadTtl | None
"""Minutes, or ``{"ttl": minutes, "strategy": "delete"}``."""


def ttl_minutes(ttl: Ttl) -> float | None:
    return ttl.ttl if isinstance(ttl, ThreadTtl) else ttl


class ThreadCreate(Body):
    thread_id: str | None = Field(default=None, pattern=THREAD_ID)
    metadata: Metadata = None
    if_exists: Literal["raise", "do_nothing"] = "raise"
    ttl: Ttl = None
    supersteps: list[Any] | None = None

    @field_validator("supersteps")
    @classmethod
    def _no_supersteps(cls, value: list[Any] | None) -> None:
        if value:
            raise ValueError("creating a thread from supersteps is not supported")
        return None


class ThreadUpdate(Body):
    metadata: Annotated[dict[str, Any], AfterValidator(_bounded)] = Field(default_factory=dict)
    """Merged into the thread's metadata."""
    ttl: Ttl = None


class ThreadSearch(Body):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    ids: list[str] | None = None
    status: ThreadStatus | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=1_000_000)
    sort_by: Literal["thread_id", "status", "created_at", "updated_at"] = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[ThreadField] | None = None
    extract: dict[str, Any] | None = None


class ThreadCount(Body):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: ThreadStatus | None = None


class AssistantCount(Body):
    graph_id: str | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None


class HistoryRequest(Body):
    limit: int = Field(default=10, ge=1, le=1000)
    before: dict[str, Any] | str | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None
    select: list[str] | None = None


class StateAtCheckpoint(Body):
    checkpoint: dict[str, Any] = Field(default_factory=dict)
    """``{"checkpoint_id": ..., "checkpoint_ns": ...}`` within the path's thread (a thread id here is ignored)."""
    subgraphs: bool = False


class RunCommand(Body):
    resume: Any = None
    goto: Any = None
    update: Any = None

    @field_validator("goto", "update")
    @classmethod
    def _unsupported(cls, value: Any) -> None:
        if value is not None:
            raise ValueError("only command.resume is supported (goto and update would bypass the governed steps)")
        return None


StreamMode = Literal["values", "updates", "custom", "debug", "messages-tuple", "tasks", "checkpoints"]


class RunCreate(Body):
    """``POST /threads/{id}/runs[/wait|/stream]`` and the stateless ``/runs`` variants."""

    assistant_id: str
    input: dict[str, Any] | None = None
    command: RunCommand | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: Metadata = None
    stream_mode: StreamMode | list[StreamMode] = "values"
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    multitask_strategy: Literal["reject", "enqueue", "interrupt", "rollback"] = "reject"
    if_not_exists: Literal["create", "reject"] = "reject"
    on_disconnect: Literal["cancel", "continue"] = "continue"
    on_completion: Literal["delete", "keep"] | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    after_seconds: float | None = None
    webhook: WebhookUrl | None = None
    """POSTed the run's record when it ends (signed: see ``GET /webhooks``)."""
    checkpoint: dict[str, Any] | None = None
    checkpoint_id: str | None = None
    checkpoint_during: bool | None = None
    interrupt_before: Any = None
    interrupt_after: Any = None
    feedback_keys: list[str] | None = None
    strict_resume: bool | None = None
    langsmith_tracer: Any = None

    def unsupported(self) -> str | None:
        """The first option Steward refuses, explained (governance cannot be skipped or rewound)."""
        if self.multitask_strategy in ("interrupt", "rollback"):
            return f"multitask_strategy {self.multitask_strategy!r} is not supported; use 'reject' or 'enqueue'"
        if self.interrupt_before or self.interrupt_after:
            return "interrupt_before / interrupt_after are not supported; approvals come from policy"
        if self.checkpoint or self.checkpoint_id:
            return "running from an earlier checkpoint is not supported (it would replay governed writes)"
        if self.after_seconds:
            return "delayed runs (after_seconds) are not supported"
        if self.input is not None and self.command is not None:
            return "send either input (start) or command (resume), not both"
        if self.input is None and self.command is None:
            return "send input to start the workflow, or command.resume to decide a pending approval"
        return None

    def modes(self) -> list[str]:
        return [self.stream_mode] if isinstance(self.stream_mode, str) else list(dict.fromkeys(self.stream_mode))


class KillSwitchSet(Body):
    workflow: str = Field(default="*", min_length=1, max_length=64, pattern=r"^(\*|[A-Za-z0-9._-]+)$")
    tool: str = Field(default="*", min_length=1, max_length=64, pattern=r"^(\*|[A-Za-z0-9._-]+)$")
    reason: str = Field(min_length=1, max_length=500)


class WebhookCreate(Body):
    url: WebhookUrl
    events: list[Literal["run.ended", "approval.requested", "escalation.opened", "kill_switch.changed"]] = Field(
        min_length=1, max_length=4
    )


class EscalationNote(Body):
    text: str = Field(min_length=1, max_length=4000)


class EscalationClose(Body):
    resolution: str = Field(min_length=1, max_length=4000)
    """What was done (e.g. "refunded by hand", "customer called back", "no action: duplicate")."""


class SpendCapSet(Body):
    workflow: str = Field(default="*", min_length=1, max_length=64, pattern=r"^(\*|[A-Za-z0-9._-]+)$")
    usd_per_day: Decimal = Field(ge=0, max_digits=14, decimal_places=4)


class ModeSet(Body):
    mode: Literal["autopilot", "suggest", "shadow"]


class KeyCreate(Body):
    roles: list[Literal["runner", "approver", "admin"]] = Field(min_length=1, max_length=3)
    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")


class DecisionBody(BaseModel):
    """``POST /approvals/{thread_id}``: the HITL response (``decisions``), one ``decision``, or the decision's own
    fields at the top level (``{"type": "approve"}``), and a comment."""

    model_config = ConfigDict(extra="forbid")
    decisions: list[dict[str, Any]] | None = None
    decision: dict[str, Any] | None = None
    type: Literal["approve", "edit", "reject"] | None = None
    edited_action: dict[str, Any] | None = None
    message: str | None = Field(default=None, max_length=2000)
    comment: str | None = Field(default=None, max_length=2000)

    def response(self) -> dict[str, Any]:
        flat = {
            k: v
            for k, v in {"type": self.type, "edited_action": self.edited_action, "message": self.message}.items()
            if v is not None
        }
        given = [shape for shape in (self.decisions, self.decision, flat or None) if shape is not None]
        if len(given) != 1:
            raise ValueError("send one of: {'type': 'approve'}, {'decision': {...}} or {'decisions': [...]}")
        if flat and "type" not in flat:
            raise ValueError("a decision needs its type: approve, edit or reject")
        return {"decisions": self.decisions or [self.decision or flat], "comment": self.comment}
