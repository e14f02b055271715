"""A replay's tape: a recorded run's answers, played back so the run can be re-executed offline.

Built from a thread's audit events: tools answer with their recorded outputs (or errors), the policy engine
sees the recorded facts, models answer with their recorded responses, and interrupts are resumed with the
recorded decisions. Nothing touches the systems of record; the replay's own events are kept on the tape.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

from steward.audit import AuditEvent
from steward.tool_errors import (
    CapabilityExceeded,
    IdempotencyConflict,
    RecordChanged,
    RecordNotFound,
    ToolError,
    ToolInputError,
    ToolOutputInvalid,
    ToolTimeout,
    ToolUnavailable,
)

ERRORS: dict[str, type[ToolError]] = {
    cls.code: cls
    for cls in (
        ToolInputError,
        RecordNotFound,
        CapabilityExceeded,
        ToolUnavailable,
        ToolTimeout,
        ToolOutputInvalid,
        IdempotencyConflict,
        RecordChanged,
    )
}


class Unrecorded(LookupError):
    """The replay asked for something the original run never did."""


class Tape:
    def __init__(self, events: list[dict[str, Any]], *, live_model: bool = False) -> None:
        self.live_model = live_model
        self.facts: dict[str, deque] = defaultdict(deque)
        self.calls: dict[str, deque] = defaultdict(deque)
        self.models: deque = deque()
        self.decisions: deque = deque()
        for event in events:
            if event["type"] == "policy" and event["tool"]:
                self.facts[event["tool"]].append(event["detail"].get("facts", {}))
            elif event["type"] == "tool_call":
                self.calls[event["tool"]].append(event)
            elif event["type"] == "model_call":
                self.models.append(event)
            elif event["type"] == "approval" and event["status"] in ("approve", "edit", "reject"):
                self.decisions.append(event)
        self.replayed: list[AuditEvent] = []

    @staticmethod
    def _next(queue: deque, what: str) -> Any:
        if not queue:
            raise Unrecorded(f"the original run made no (further) {what}")
        return queue.popleft()

    def facts_for(self, tool: str) -> dict[str, Any]:
        return self._next(self.facts[tool], f"policy check of {tool}")

    def output_of(self, tool: str) -> dict[str, Any]:
        """The recorded output of the next ``tool`` call, or its recorded error raised again."""
        event = self._next(self.calls[tool], f"call of {tool}")
        if event["status"] in ("ok", "deduplicated"):
            return event["detail"]["output"]
        raise ERRORS.get(event["rule_id"], ToolError)(tool, event["reason"] or "recorded failure")

    def cached_output(self, tool: str) -> dict[str, Any] | None:
        """The output of the next ``tool`` call if the original run was served it from the cache (consumed),
        else None: a cached read replays as the same cached read."""
        queue = self.calls[tool]
        if queue and queue[0]["status"] == "cached":
            return queue.popleft()["detail"]["output"]
        return None

    def model_answer(self) -> dict[str, Any]:
        """The next recorded model call (status, rule_id and the response it gave)."""
        return self._next(self.models, "model call")

    def next_decision(self) -> dict[str, Any] | None:
        """The recorded human decision for the next interrupt, as a resume payload."""
        if not self.decisions:
            return None
        event = self.decisions.popleft()
        by = event["detail"].get("decided_by") or "replay"
        if event["status"] == "reject":
            decision = {"type": "reject", "message": event["detail"].get("message")}
        elif event["status"] == "edit":
            decision = {"type": "edit", "edited_action": {"name": event["tool"], "args": event["args"]}}
        else:
            decision = {"type": "approve"}
        return {"decisions": [decision], "decided_by": by, "comment": event["detail"].get("comment")}
