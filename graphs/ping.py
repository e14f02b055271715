"""Ping workflow: four plain steps and one conditional edge, no tools and no model.

    START -> receive -> classify --(even)--> even -> END
                                 --(odd)---> odd  -> END

It checks that a server executes graphs end to end with durable checkpoints, and it is the 4-node graph
``make bench`` measures Steward's own overhead on.
"""

from datetime import timedelta
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, Field

from graphs.datasets import datasets
from steward.workflow import Workflow

NAME = "ping"
VERSION = "1.0.0"


class PingInput(BaseModel):
    """What a caller sends."""

    n: int = Field(ge=0, le=10**9)


class PingState(PingInput):
    received: bool = False
    parity: Literal["even", "odd"] | None = None
    reply: str | None = None


async def receive(state: PingState) -> dict:
    return {"received": True}


async def classify(state: PingState) -> dict:
    return {"parity": "even" if state.n % 2 == 0 else "odd"}


async def even(state: PingState) -> dict:
    return {"reply": f"{state.n} is even"}


async def odd(state: PingState) -> dict:
    return {"reply": f"{state.n} is odd"}


async def by_parity(state: PingState) -> str | None:
    return state.parity


def make_graph() -> StateGraph[Any, Any, Any, Any]:
    builder = StateGraph(PingState, input_schema=PingInput)
    for node in (receive, classify, even, odd):
        builder.add_node(node)
    builder.add_edge(START, "receive")
    builder.add_edge("receive", "classify")
    builder.add_conditional_edges("classify", by_parity, ["even", "odd"])
    builder.add_edge("even", END)
    builder.add_edge("odd", END)
    return builder


graph = make_graph().compile(name=NAME)

WORKFLOW = Workflow(
    name=NAME,
    version=VERSION,
    description="Four plain steps and one conditional edge; no tools.",
    make_graph=make_graph,
    input_schema=PingInput,
    state_schema=PingState,
    datasets=datasets(NAME),
    thread_ttl=timedelta(days=1),  # a liveness probe: nothing worth keeping
)
