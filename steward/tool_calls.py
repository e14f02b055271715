"""Run one tool call under its contract: input model, caps, timeout, retries (reads), output model.

The sandbox systems of record can be told to misbehave (table ``sandbox.faults``: for the next N calls of a
tenant a tool times out, fails, answers garbage, or is slow before or after doing its work) so tests and evals
can prove how the control layer copes. A run reads which tools have faults once (:class:`RunFaults`).
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from steward.contracts import ToolContext, ToolSpec
from steward.errors import explain
from steward.tool_errors import ToolError, ToolInputError, ToolOutputInvalid, ToolTimeout, ToolUnavailable


@dataclass(frozen=True)
class ToolResult:
    """A validated tool output and how it was obtained."""

    output: BaseModel
    attempts: int
    latency_ms: float


def parse_args(spec: ToolSpec, raw_args: dict[str, Any] | BaseModel) -> BaseModel:
    """Validate arguments against the tool's input model; the error names each bad field."""
    if isinstance(raw_args, spec.input_model):
        return raw_args
    data = raw_args.model_dump() if isinstance(raw_args, BaseModel) else raw_args
    try:
        return spec.input_model.model_validate(data)
    except ValidationError as exc:
        raise ToolInputError(spec.name, f"invalid arguments ({explain(exc)})") from None


@dataclass
class RunFaults:
    """The tools the run's tenant has faults pending for, read once per run, at its first tool call; a fault
    injected after that reaches the tenant's next runs."""

    tools: set[str] | None = None


FAULTS: ContextVar[RunFaults | None] = ContextVar("steward_run_faults", default=None)
"""The executor sets a :class:`RunFaults` per run; unset, every tool call asks for its fault."""


async def _take_fault(spec: ToolSpec, ctx: ToolContext) -> tuple[str | None, float]:
    """The fault this call is to suffer (consumed), if the tenant has one pending for the tool."""
    known = FAULTS.get()
    if known is not None and known.tools is None:
        async with ctx.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT tool FROM sandbox.faults WHERE tenant = %s AND remaining > 0", (ctx.tenant,)
            )
            known.tools = {row["tool"] for row in await cur.fetchall()}
    if known is not None and spec.name not in (known.tools or ()):
        return None, 0.0
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            "UPDATE sandbox.faults SET remaining = remaining - 1"
            " WHERE tenant = %s AND tool = %s AND remaining > 0 RETURNING mode, delay_ms",
            (ctx.tenant, spec.name),
        )
        row = await cur.fetchone()
    return (row["mode"], row["delay_ms"] / 1000) if row else (None, 0.0)


async def _call_once(spec: ToolSpec, args: BaseModel, ctx: ToolContext) -> Any:
    fault, delay_s = await _take_fault(spec, ctx)
    if fault == "timeout":
        await asyncio.sleep(spec.timeout_s * 4)  # a hung backend: the contract's timeout cuts it off
    if fault == "error":
        raise ToolUnavailable(spec.name, "the system of record answered 503 Service Unavailable")
    if fault == "delay":
        await asyncio.sleep(delay_s)
    raw = await spec.fn(args, ctx)
    if fault == "delay_after":  # the work is done (and committed) but the answer is late: a crash window
        await asyncio.sleep(delay_s)
    return {"error": "<html>502 Bad Gateway</html>"} if fault == "invalid_output" else raw


async def invoke_tool(spec: ToolSpec, raw_args: dict[str, Any] | BaseModel, ctx: ToolContext) -> ToolResult:
    """Execute ``spec`` with ``raw_args``. Raises a :class:`tools.errors.ToolError` on any failure."""
    started = time.perf_counter()
    args = parse_args(spec, raw_args)
    spec.check_caps(args)
    attempts = spec.retry.attempts if spec.kind == "read" else 1
    for attempt in range(1, attempts + 1):
        try:
            async with asyncio.timeout(spec.timeout_s):
                raw = await _call_once(spec, args, ctx)
            break
        except TimeoutError:
            error: ToolError = ToolTimeout(spec.name, f"no answer within {spec.timeout_s}s")
        except ToolError as exc:
            error = exc
        if attempt == attempts or not error.retryable:  # the one retry decision: the error says if it may pass
            raise error
        await asyncio.sleep(spec.retry.backoff_s * 2 ** (attempt - 1))
    try:
        output = spec.output_model.model_validate(raw)
    except ValidationError as exc:
        raise ToolOutputInvalid(
            spec.name, f"output does not match {spec.output_model.__name__} ({exc.error_count()} errors)"
        ) from None
    return ToolResult(output=output, attempts=attempt, latency_ms=(time.perf_counter() - started) * 1000)
