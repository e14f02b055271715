"""The workflows Steward runs, one module each. Register new ones in :data:`WORKFLOWS`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


WORKFLOWS: dict[str, Workflow] = {
    refund.WORKFLOW: Workflow(
        name=refund.WORKFLOW,
        version=refund.VERSION,
        description=(refund.__doc__ or "").strip().splitlines()[0],
        input_schema=refund.RefundInput,
        state_schema=refund.RefundState,
        budget=refund.BUDGET,
        make_graph=refund.make_graph,
    ),
    ping.WORKFLOW: Workflow(
        name=ping.WORKFLOW,
        version=ping.VERSION,
        description=(ping.__doc__ or "").strip().splitlines()[0],
        input_schema=ping.PingInput,
        state_schema=ping.PingState,
        budget=Budget(),
        make_graph=ping.make_graph,
    ),
}
