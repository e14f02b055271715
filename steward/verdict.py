"""What the kernel needs of a policy engine: a verdict per proposed tool call, and the policy's identity.

The engine itself (rules as data, its grammar) lives with the tools (``tools/policy.py``); a workflow's
declaration says where its policy comes from, so the kernel never imports the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

Verdict = Literal["allow", "require_approval", "deny"]


class PolicyVerdict(BaseModel):
    """What the policy decided for one proposed tool call, and why."""

    verdict: Verdict
    rule_id: str
    reason: str
    policy_version: str
    approvers: int = Field(default=1, ge=1)
    """For ``require_approval``: how many distinct people must approve the same arguments (the quorum)."""
    mode: str | None = None
    """The operating mode in force when the verdict was given (set by the kernel, not the policy)."""


@runtime_checkable
class Policy(Protocol):
    """A workflow's policy as the kernel uses it."""

    workflow: str
    version: str
    """A content hash: every verdict names the policy version it came from."""
    source: str
    """The policy's text, stored by version so a run can be replayed under the policy it ran with."""
    allowlist: list[str]
    approval_expiry_s: float | None
    """How long an approval request waits for people before the run escalates (None: no expiry)."""

    def decide(
        self, *, tool: str, kind: str, args: dict[str, Any], facts: dict[str, Any], ctx: dict[str, Any]
    ) -> PolicyVerdict: ...

    def table(self, tenant: str | None = None) -> list[dict[str, str]]: ...


class PolicySource(Protocol):
    """Where a workflow's policy comes from (e.g. a TOML file); ``override_dir`` may hold a replacement."""

    def load(self, override_dir: Path | None = None) -> Policy: ...
