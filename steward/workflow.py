"""A workflow as one declaration, and the catalog of the workflows a deployment runs.

A workflow module builds one :class:`Workflow` carrying everything the kernel needs: its graph, input and state
models, budget, the tool contracts it may call, where its policy comes from, its default mode, the systems of
record it acts on (their tables, seed models and migrations), the rules model's skills for it, its eval
datasets, and which write tools the eval oracle re-checks. Registries (tools, skills, tables) are derived from
the declarations; nothing registers itself on import.

The kernel never imports a workflow: :func:`load_catalog` reads the module named by the ``workflows`` setting
(``graphs`` by default) and takes its ``WORKFLOWS``.
"""

from __future__ import annotations

import functools
import importlib
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from langgraph.graph import StateGraph
from pydantic import BaseModel

from steward.budget import Budget
from steward.contracts import ToolSpec
from steward.errors import NotFound
from steward.models.rules import Skill
from steward.sandbox import FAULTS, SystemOfRecord
from steward.verdict import PolicySource

Mode = Literal["autopilot", "suggest", "shadow"]
"""``autopilot``: the policy decides; ``suggest``: every write needs a human approval whatever the policy says;
``shadow``: the run plans and records the verdict each write would get, writes nothing, and ends ``shadowed``."""


ASSISTANTS = uuid.UUID("6b1f1f0e-5c7a-4c55-9a8e-7e3a2f9d0c11")


@functools.cache
def assistant_id(workflow: str) -> str:
    """The stable assistant id of a workflow (the same on every server): what the API and webhooks call it."""
    return str(uuid.uuid5(ASSISTANTS, f"steward:{workflow}"))


@dataclass(frozen=True)
class Workflow:
    """One governed workflow, declared once (see the module docstring)."""

    name: str
    version: str
    """Recorded with every run, so a replay can tell whether the workflow changed since."""
    description: str
    make_graph: Callable[[], StateGraph[Any, Any, Any, Any]]
    input_schema: type[BaseModel]
    state_schema: type[BaseModel]
    policy: PolicySource | None = None
    """None: the workflow calls no tools (nothing to decide)."""
    budget: Budget = field(default_factory=Budget)
    tools: tuple[ToolSpec, ...] = ()
    """The contracts this workflow may call; names are unique within the workflow."""
    scopes: tuple[str, ...] = ()
    """The access this workflow is granted (e.g. ``billing:refunds:write``): every tool's ``scope`` must be among
    them, so a tool added to ``tools`` without a grant is refused when the workflow is declared and, should a
    catalog be assembled otherwise, denied at call time (``policy.scope_not_granted``)."""
    systems: tuple[SystemOfRecord, ...] = ()
    """The sandbox systems of record its tools act on."""
    skills: Mapping[str, Skill] = field(default_factory=dict)
    """The rules model's answer per structured-output schema name (the offline default model)."""
    datasets: tuple[Path, ...] = ()
    """Eval cases (``<name>.golden.jsonl``, ``<name>.adversarial.jsonl``)."""
    checked_writes: tuple[str, ...] = ()
    """Write tools whose every write the eval oracle re-checks against the policy."""
    mode: Mode = "autopilot"
    demo: Callable[..., Awaitable[None]] | None = None
    """``steward demo``: ``async def demo(services, console)`` showing the workflow on its own sandbox tenant."""
    demo_seed: Path | None = None
    """A sandbox seed a newcomer can try the workflow on: loaded into tenant ``quickstart`` on a first start."""
    thread_ttl: timedelta | None = None
    """Delete a finished thread this long after its last activity unless it was given its own ``ttl`` (None:
    keep it; see :mod:`steward.retention`)."""

    def __post_init__(self) -> None:
        names = [spec.name for spec in self.tools]
        if repeated := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"workflow {self.name}: tool names declared twice: {repeated}")
        for name in self.checked_writes:
            spec = self.tool(name)
            if spec is None or spec.kind != "write" or spec.writes_to is None:
                raise ValueError(
                    f"workflow {self.name}: checked write {name!r} must be one of its write tools"
                    " with writes_to declared"
                )
        if ungranted := sorted({spec.scope for spec in self.tools} - set(self.scopes)):
            raise ValueError(f"workflow {self.name}: its tools need scopes it is not granted: {ungranted}")
        if self.tools and self.policy is None:
            raise ValueError(f"workflow {self.name}: a workflow that calls tools needs a policy")

    def tool(self, name: str) -> ToolSpec | None:
        """The contract named ``name`` that this workflow may call, if any."""
        return next((spec for spec in self.tools if spec.name == name), None)


class Catalog(Mapping[str, Workflow]):
    """The workflows a deployment runs, by name, with the registries derived from them."""

    def __init__(self, workflows: Mapping[str, Workflow]) -> None:
        self._workflows = dict(workflows)
        for name, workflow in self._workflows.items():
            if name != workflow.name:
                raise ValueError(f"catalog entry {name!r} declares workflow {workflow.name!r}")

    def __getitem__(self, name: str) -> Workflow:
        return self._workflows[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._workflows)

    def __len__(self) -> int:
        return len(self._workflows)

    def get_workflow(self, name: str) -> Workflow:
        """The workflow called ``name``, or NotFound listing the known ones."""
        if name not in self._workflows:
            raise NotFound(f"unknown workflow {name!r}; known: {', '.join(sorted(self._workflows))}")
        return self._workflows[name]

    @property
    def systems(self) -> tuple[SystemOfRecord, ...]:
        """Every system of record any workflow acts on (in first-declared order), plus the fault table."""
        found: dict[str, SystemOfRecord] = {FAULTS.name: FAULTS}
        for workflow in self._workflows.values():
            for system in workflow.systems:
                if found.setdefault(system.name, system) is not system:
                    raise ValueError(f"two different systems of record are named {system.name!r}")
        return tuple(found.values())

    @property
    def write_tools(self) -> frozenset[str]:
        """The names of every workflow's write tools."""
        return frozenset(s.name for w in self._workflows.values() for s in w.tools if s.kind == "write")

    @property
    def tool_names(self) -> list[str]:
        """Every tool any workflow declares."""
        return sorted({spec.name for workflow in self._workflows.values() for spec in workflow.tools})

    @property
    def skills(self) -> dict[str, Skill]:
        """The rules model's skills of every workflow, by schema name."""
        merged: dict[str, Skill] = {}
        for workflow in self._workflows.values():
            for schema, skill in workflow.skills.items():
                if merged.setdefault(schema, skill) is not skill:
                    raise ValueError(f"two workflows define a rules-model skill for {schema!r}")
        return merged


def load_catalog(reference: str) -> Catalog:
    """The catalog from ``module`` (its ``WORKFLOWS``) or ``module:attribute``."""
    module_name, _, attribute = reference.partition(":")
    module = importlib.import_module(module_name)
    workflows = getattr(module, attribute or "WORKFLOWS")
    return workflows if isinstance(workflows, Catalog) else Catalog(workflows)
