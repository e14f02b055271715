"""The workflows Steward runs, one module each. Register new ones in :data:`WORKFLOWS`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from langgraph.graph import StateGraph
from pydantic import BaseModel

from graphs import ping, refund
from steward.budget import Budget


@dataclass(frozen=True)
class Workflow:
    """A workflow as the runner and the server see it."""

    name: str
    version: str
    """Recorded with every run, so a replay can tell whether the workflow changed since."""
    description: str
    input_schema: type[BaseModel]
    state_schema: type[BaseModel]
    budget: Budget
    make_graph: Callable[[], StateGraph]


def _workflow(module: ModuleType, input_schema: type[BaseModel], state_schema: type[BaseModel],
              budget: Budget | None = None) -> Workflow:
    """A workflow module's registration: its ``WORKFLOW`` name, ``VERSION``, docstring and ``make_graph``."""
    return Workflow(name=module.WORKFLOW, version=module.VERSION,
                    description=(module.__doc__ or module.WORKFLOW).strip().splitlines()[0],
                    input_schema=input_schema, state_schema=state_schema, budget=budget or Budget(),
                    make_graph=module.make_graph)


WORKFLOWS: dict[str, Workflow] = {workflow.name: workflow for workflow in (
    _workflow(refund, refund.RefundInput, refund.RefundState, refund.BUDGET),
    _workflow(ping, ping.PingInput, ping.PingState),
)}
