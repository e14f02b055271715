"""Tool errors, split by who can act on them.

ToolError
├── ToolInputError        arguments fail the tool's input model (the model may fix and retry)
├── RecordNotFound        the system of record has no such record (the model may see this)
├── CapabilityExceeded    arguments break a cap written into the contract; never retried
├── ToolUnavailable       the backend failed transiently; reads retry, writes never do
│   └── ToolTimeout       the call exceeded the contract's timeout
├── ToolOutputInvalid     the tool answered something its output model rejects; terminal
├── IdempotencyConflict   a write's idempotency key was already used for different arguments
└── RecordChanged         the record changed since it was read (optimistic concurrency); never retried
"""

from __future__ import annotations


class ToolError(Exception):
    """Base of every error raised while executing a tool under its contract."""

    code = "tool.error"
    retryable = False

    def __init__(self, tool: str, message: str) -> None:
        super().__init__(f"{tool}: {message}")
        self.tool = tool
        self.message = message


class ToolInputError(ToolError):
    code = "tool.invalid_input"


class RecordNotFound(ToolError):
    code = "tool.not_found"


class CapabilityExceeded(ToolError):
    code = "tool.cap_exceeded"


class ToolUnavailable(ToolError):
    code = "tool.unavailable"
    retryable = True


class ToolTimeout(ToolUnavailable):
    code = "tool.timeout"


class ToolOutputInvalid(ToolError):
    code = "tool.invalid_output"


class IdempotencyConflict(ToolError):
    code = "tool.idempotency_conflict"


class RecordChanged(ToolError):
    code = "tool.stale_record"
