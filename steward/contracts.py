"""Tool contracts: each tool is declared once, with everything the control layer needs to govern it.

A contract names the tool, its version, whether it reads or writes, its scope, risk and owner, its pydantic
input model (the function's first annotation) and output model, a timeout, a retry policy (reads only),
capability caps checked in code before the call, and optionally a ``facts`` function that tells the policy
engine what the system of record says about a proposed call.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from psycopg.types.json import Jsonb
from pydantic import BaseModel

from steward.pool import Conn, Pool, one, trusted
from steward.tool_errors import CapabilityExceeded, IdempotencyConflict, RecordNotFound, ToolInputError

Kind = Literal["read", "write"]
Risk = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for transient failures (reads only): ``attempts`` tries, backoff doubling from ``backoff_s``."""

    attempts: int = 1
    backoff_s: float = 0.05


READ_RETRY = RetryPolicy(attempts=3, backoff_s=0.05)
"""What reads of the sandbox systems of record use: three tries, 50 ms then 100 ms apart."""


@dataclass(frozen=True)
class MaxCap:
    """A ceiling on one numeric input field, enforced in code whatever the caller or policy says."""

    name: str
    field: str
    limit: Decimal

    def check(self, tool: str, args: BaseModel) -> None:
        value = getattr(args, self.field)
        if value is not None and Decimal(str(value)) > self.limit:
            raise CapabilityExceeded(tool, f"{self.field}={value} exceeds the contract cap {self.name}={self.limit}")


@dataclass(frozen=True)
class ToolContext:
    """What a tool function may touch: the systems of record, scoped to one tenant and one run."""

    pool: Pool
    tenant: str
    thread_id: str
    run_id: str | None = None
    idempotency_key: str | None = None
    approvers: tuple[str, ...] = ()
    """Who approved this call (a write held for approval), for the system of record's own change log."""


async def fetch_one(ctx: ToolContext, tool: str, what: str, query: str, params: Any) -> dict[str, Any]:
    """One row from a system of record, or :class:`RecordNotFound` saying there is no ``what`` in the tenant."""
    async with ctx.pool.connection() as conn:
        row = await (await conn.execute(trusted(query), params)).fetchone()
    if row is None:
        raise RecordNotFound(tool, f"no {what} in tenant {ctx.tenant!r}")
    return row


async def write_once(conn: Conn, ctx: ToolContext, tool: str, table: str, values: dict[str, Any]) -> dict[str, Any]:
    """Insert one row of a write tool's ``writes_to`` table under the call's idempotency key, in the caller's
    transaction. A replay of the key returns the row first written (``deduplicated``); the same key with other
    values is an :class:`~steward.tool_errors.IdempotencyConflict`. The row carries ``thread_id`` and
    ``idempotency_key`` (and the table must have ``UNIQUE (tenant, idempotency_key)``)."""
    if not ctx.idempotency_key:
        raise ToolInputError(tool, "a write needs an idempotency key")
    cur = await conn.execute(
        trusted(f"SELECT * FROM sandbox.{table} WHERE tenant = %s AND idempotency_key = %s"),
        (ctx.tenant, ctx.idempotency_key),
    )
    if (existing := await cur.fetchone()) is not None:
        if any(_differs(existing.get(k), v) for k, v in values.items()):
            raise IdempotencyConflict(tool, f"key already used for {table} row {existing.get('id')} with other values")
        return {**existing, "deduplicated": True}
    row = {"tenant": ctx.tenant, **values, "thread_id": ctx.thread_id, "idempotency_key": ctx.idempotency_key}
    columns = ", ".join(row)
    cur = await conn.execute(
        trusted(f"INSERT INTO sandbox.{table} ({columns}) VALUES ({', '.join(['%s'] * len(row))}) RETURNING *"),
        [Jsonb(v) if isinstance(v, (dict, list)) else v for v in row.values()],
    )
    return {**(await one(cur)), "deduplicated": False}


def _differs(stored: Any, given: Any) -> bool:
    if isinstance(given, (Decimal, int, float)) and stored is not None and not isinstance(given, bool):
        return Decimal(str(stored)) != Decimal(str(given))
    return stored != given


ToolFn = Callable[[Any, ToolContext], Awaitable[dict[str, Any]]]
FactsFn = Callable[[Any, ToolContext], Awaitable[BaseModel]]


Out = TypeVar("Out", bound=BaseModel)
"""A tool's output model."""


@functools.cache
def _json_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


@functools.cache
def _returned_model(function: Callable[..., Any]) -> type[BaseModel]:
    return typing.get_type_hints(function)["return"]


@dataclass(frozen=True)
class ToolSpec(Generic[Out]):
    """One tool's contract. Build it with :func:`tool_contract`."""

    name: str
    version: str
    kind: Kind
    scope: str
    risk: Risk
    owner: str
    description: str
    input_model: type[BaseModel]
    output_model: type[Out]
    fn: ToolFn
    timeout_s: float
    retry: RetryPolicy = RetryPolicy()
    caps: tuple[MaxCap, ...] = ()
    facts: FactsFn | None = None
    """Reads what the policy needs to know about a proposed call; returns a pydantic model."""
    writes_to: str | None = None
    """A write's sandbox table, where each call leaves one row carrying its input fields, ``thread_id`` and
    ``idempotency_key``: what the eval oracle re-checks against the policy."""
    rate_per_minute: int | None = None
    """Calls per minute per tenant, across all processes (see :mod:`steward.limits`); None: unlimited."""
    cache_ttl_s: float | None = None
    """Reads only: serve a cached result for this long (per tenant, tool version and arguments)."""

    @property
    def args_schema(self) -> dict[str, Any]:
        """The JSON schema of the tool's arguments (made once per input model: read it, do not change it)."""
        return _json_schema(self.input_model)

    @property
    def facts_model(self) -> type[BaseModel] | None:
        """The model ``facts`` returns (recorded facts are parsed back through it on replay)."""
        return _returned_model(self.facts) if self.facts else None

    def __post_init__(self) -> None:
        if self.kind == "write" and self.retry.attempts > 1:
            raise ValueError(f"{self.name}: writes are never retried automatically; use attempts=1")
        if self.timeout_s <= 0:
            raise ValueError(f"{self.name}: timeout_s must be positive")
        if self.cache_ttl_s is not None and (self.kind == "write" or self.cache_ttl_s <= 0):
            raise ValueError(f"{self.name}: only reads may be cached, for a positive cache_ttl_s")
        if self.rate_per_minute is not None and self.rate_per_minute < 1:
            raise ValueError(f"{self.name}: rate_per_minute must be at least 1")

    def check_caps(self, args: BaseModel) -> None:
        for cap in self.caps:
            cap.check(self.name, args)

    def describe(self) -> dict[str, Any]:
        """The contract as data (for docs, audit pinning and the API)."""
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "scope": self.scope,
            "risk": self.risk,
            "owner": self.owner,
            "timeout_s": self.timeout_s,
            "retry_attempts": self.retry.attempts,
            "caps": {cap.name: str(cap.limit) for cap in self.caps},
            "rate_per_minute": self.rate_per_minute,
            "cache_ttl_s": self.cache_ttl_s,
        }


def tool_contract(
    *,
    name: str,
    version: str,
    kind: Kind,
    scope: str,
    risk: Risk,
    owner: str,
    output: type[Out],
    timeout_s: float,
    retry: RetryPolicy = RetryPolicy(),
    caps: tuple[MaxCap, ...] = (),
    facts: FactsFn | None = None,
    writes_to: str | None = None,
    rate_per_minute: int | None = None,
    cache_ttl_s: float | None = None,
) -> Callable[[ToolFn], ToolSpec[Out]]:
    """Declare a tool. The input model is the annotation of the function's first parameter, the
    description its docstring; the function returns the backend's raw record, which the executor
    validates against ``output``. A workflow lists the contracts it may call in its declaration."""

    def declare(fn: ToolFn) -> ToolSpec[Out]:
        first_param = next(iter(inspect.signature(fn).parameters))
        input_model = typing.get_type_hints(fn)[first_param]
        return ToolSpec(
            name=name,
            version=version,
            kind=kind,
            scope=scope,
            risk=risk,
            owner=owner,
            description=inspect.getdoc(fn) or name,
            input_model=input_model,
            output_model=output,
            fn=fn,
            timeout_s=timeout_s,
            retry=retry,
            caps=caps,
            facts=facts,
            writes_to=writes_to,
            rate_per_minute=rate_per_minute,
            cache_ttl_s=cache_ttl_s,
        )

    return declare
