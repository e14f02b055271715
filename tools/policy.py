"""The policy engine: deterministic, outside the model, consulted before every tool call.

Rules are data (``tools/policies/<workflow>.toml``), checked in order; the first rule whose tool matches
and whose conditions all hold decides. A tool missing from the workflow's allowlist is denied before any
rule runs. When no rule matches, reads are allowed and writes denied (fail closed). A condition that cannot
be evaluated (missing fact, incomparable values) denies with rule ``policy.evaluation_error``.

A condition is ``<path> <op> <path-or-JSON-literal>``; paths start with ``args.``, ``facts.`` or ``ctx.``;
ops are ``== != < <= > >= in not_in``. Reasons may quote paths as ``{args.amount_usd}``.

Tenants may override: ``[[tenants.<tenant>.rules]]`` entries replace the rule with the same id in place,
or, with a new id, go before all shipped rules.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, field_validator

from steward.verdict import PolicyVerdict, Verdict

POLICY_DIR = Path(__file__).parent / "policies"

_CONDITION = re.compile(r"^\s*(?P<lhs>[A-Za-z_][\w.]*)\s+(?P<op>==|!=|<=|>=|<|>|in|not_in)\s+(?P<rhs>.+?)\s*$")
_PATH = re.compile(r"^(args|facts|ctx)(\.\w+)+$")
_OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
}


class PolicyError(ValueError):
    """A policy file or a condition is malformed, or a condition cannot be evaluated."""


def _resolve(path: str, env: dict[str, Any]) -> Any:
    value: Any = env
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise PolicyError(f"{path} is not known here")
        value = value[part]
    return value


def _number(value: Any) -> Any:
    """Numbers as Decimals (so 0.1 + 0.2 compares as money does), inside lists too."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return Decimal(str(value))
    if isinstance(value, list):
        return [_number(item) for item in value]
    return value


class Condition(BaseModel):
    """One parsed condition of a rule."""

    lhs: str
    op: str
    rhs_path: str | None = None
    rhs_value: Any = None

    @classmethod
    def parse(cls, text: str) -> Condition:
        match = _CONDITION.match(text)
        if not match or not _PATH.match(match["lhs"]):
            raise PolicyError(f"condition {text!r} is not '<args|facts|ctx>.path <op> <path or JSON value>'")
        rhs = match["rhs"]
        if _PATH.match(rhs):
            return cls(lhs=match["lhs"], op=match["op"], rhs_path=rhs)
        try:
            return cls(lhs=match["lhs"], op=match["op"], rhs_value=json.loads(rhs, parse_float=Decimal))
        except json.JSONDecodeError:
            raise PolicyError(f"condition {text!r}: right side is neither a path nor a JSON value") from None

    def holds(self, env: dict[str, Any]) -> bool:
        left = _number(_resolve(self.lhs, env))
        right = _number(_resolve(self.rhs_path, env) if self.rhs_path else self.rhs_value)
        try:
            return bool(_OPS[self.op](left, right))
        except TypeError:
            raise PolicyError(f"cannot compare {self.lhs}={left!r} {self.op} {right!r}") from None


class Rule(BaseModel):
    """One row of the policy table."""

    id: str = Field(pattern=r"^[a-z0-9_.-]+$")
    tool: str = "*"
    when: list[str] = Field(default_factory=list)
    verdict: Verdict
    reason: str
    approvers: int = Field(default=1, ge=1, le=5)
    """With ``require_approval``: how many distinct approvers (never the requester) must agree."""
    _conditions: list[Condition] = PrivateAttr(default_factory=list)

    def model_post_init(self, _context: Any) -> None:
        try:
            self._conditions = [Condition.parse(text) for text in self.when]
        except PolicyError as exc:
            raise PolicyError(f"rule {self.id}: {exc}") from None

    def matches(self, tool: str, env: dict[str, Any]) -> bool:
        return self.tool in ("*", tool) and all(c.holds(env) for c in self._conditions)

    def explain(self, env: dict[str, Any]) -> str:
        def quote(match: re.Match[str]) -> str:
            try:
                return str(_resolve(match[1], env))
            except PolicyError:
                return match[0]

        return re.sub(r"\{([\w.]+)\}", quote, self.reason)


class TenantOverride(BaseModel):
    rules: list[Rule] = Field(default_factory=list)


class WorkflowPolicy(BaseModel):
    """A workflow's allowlist and rules, plus per-tenant overrides."""

    workflow: str
    allowlist: list[str]
    rules: list[Rule]
    tenants: dict[str, TenantOverride] = Field(default_factory=dict)
    approval_expiry_s: float | None = Field(default=None, gt=0)
    """How long an approval request waits for people; then the run escalates with ``approval.expired``."""
    version: str = "unversioned"
    source: str = Field(default="", exclude=True)
    """The TOML text this policy was parsed from (stored by version, for replays)."""

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[Rule]) -> list[Rule]:
        ids = [rule.id for rule in rules]
        if dupes := {i for i in ids if ids.count(i) > 1}:
            raise PolicyError(f"rule ids must be unique; repeated: {', '.join(sorted(dupes))}")
        return rules

    def rules_for(self, tenant: str) -> list[Rule]:
        """The rule table in force for ``tenant``."""
        override = self.tenants.get(tenant)
        if not override:
            return list(self.rules)
        replacing = {rule.id: rule for rule in override.rules}
        merged = [replacing.pop(rule.id, rule) for rule in self.rules]
        return [rule for rule in override.rules if rule.id in replacing] + merged

    def decide(
        self, *, tool: str, kind: str, args: dict[str, Any], facts: dict[str, Any], ctx: dict[str, Any]
    ) -> PolicyVerdict:
        """Decide one proposed call. Pure: the same inputs always give the same verdict."""

        def verdict_of(verdict: Verdict, rule_id: str, reason: str, approvers: int = 1) -> PolicyVerdict:
            return PolicyVerdict(
                verdict=verdict, rule_id=rule_id, reason=reason, policy_version=self.version, approvers=approvers
            )

        if tool not in self.allowlist:
            return verdict_of("deny", "policy.tool_not_allowed", f"{tool} is not on the {self.workflow} allowlist")
        env = {"args": args, "facts": facts, "ctx": ctx}
        for rule in self.rules_for(ctx.get("tenant", "")):
            try:
                if rule.matches(tool, env):
                    return verdict_of(rule.verdict, rule.id, rule.explain(env), rule.approvers)
            except PolicyError as exc:
                return verdict_of("deny", "policy.evaluation_error", f"rule {rule.id}: {exc}")
        if kind == "read":
            return verdict_of("allow", "default.read", f"{tool} is an allowlisted read")
        return verdict_of("deny", "default.write", f"no rule allows {tool}; writes fail closed")

    def table(self, tenant: str | None = None) -> list[dict[str, str]]:
        """The rules in force as rows, for people."""
        rules = self.rules_for(tenant) if tenant else self.rules
        return [
            {
                "id": r.id,
                "tool": r.tool,
                "when": " and ".join(r.when) or "always",
                "verdict": r.verdict,
                "reason": r.reason,
            }
            for r in rules
        ]


def parse_policy(source: bytes, origin: str) -> WorkflowPolicy:
    """Parse a TOML policy; errors name the file and the rule."""
    try:
        data = tomllib.loads(source.decode())
        policy = WorkflowPolicy.model_validate(data)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise PolicyError(f"{origin}: {exc}") from None
    policy.version = "sha256:" + hashlib.sha256(source).hexdigest()[:16]
    policy.source = source.decode()
    return policy


def load_policy(workflow: str, *, path: Path | None = None, policy_dir: Path | None = None) -> WorkflowPolicy:
    """Load a workflow's policy: an explicit file, else ``policy_dir/<workflow>.toml``, else the shipped one."""
    candidates = [path] if path else [p for p in (policy_dir, POLICY_DIR) if p]
    for candidate in candidates:
        file = candidate if candidate.suffix == ".toml" else candidate / f"{workflow}.toml"
        if file.is_file():
            policy = parse_policy(file.read_bytes(), str(file))
            if policy.workflow != workflow:
                raise PolicyError(f"{file} is the policy of {policy.workflow!r}, not {workflow!r}")
            return policy
    raise PolicyError(f"no policy file for workflow {workflow!r} (looked in {', '.join(map(str, candidates))})")


@dataclass(frozen=True)
class PolicyFile:
    """A workflow's shipped policy file; ``load(override_dir)`` prefers ``override_dir/<workflow>.toml``."""

    workflow: str
    path: Path

    def load(self, override_dir: Path | None = None) -> WorkflowPolicy:
        override = override_dir / f"{self.workflow}.toml" if override_dir else None
        return load_policy(self.workflow, path=override if override and override.is_file() else self.path)


def shipped(workflow: str) -> PolicyFile:
    """The policy file shipped in ``tools/policies/`` for ``workflow``."""
    return PolicyFile(workflow, POLICY_DIR / f"{workflow}.toml")
