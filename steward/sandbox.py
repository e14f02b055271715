"""Sandbox systems of record: declared by the tools' modules, created by the kernel, loaded from JSON seeds.

A :class:`SystemOfRecord` owns its tables in the ``sandbox`` schema and their migrations (applied in order by
:func:`steward.db.migrate`, tracked per system). Each :class:`Table` names the record model a seed's rows are
validated with; every row belongs to a tenant. Seed format (each table optional; ``tenant`` on a record
overrides the file's default tenant)::

    {"tenant": "acme",
     "customers": [{"id": "C-1", "name": "Ada Lovelace", "email": "ada@example.com"}],
     "faults":    [{"tool": "get_customer", "mode": "timeout", "times": 1}]}

``steward sandbox load`` accepts every table any workflow declares. Loading upserts by the table's key in one
transaction, so a bad file changes nothing; ``reset`` first empties the tenants the file names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field, ValidationError

from steward.errors import InvalidRequest, explain
from steward.pool import Conn, Pool, one, trusted


class Record(BaseModel):
    """A seed row: its table's columns, plus an optional ``tenant`` overriding the file's."""

    model_config = {"extra": "forbid"}
    tenant: str | None = Field(default=None, min_length=1, max_length=64)


@dataclass(frozen=True)
class Table:
    """One sandbox table as a seed fills it."""

    name: str
    record: type[Record]
    key: tuple[str, ...] = ("id",)
    """Columns that, with ``tenant``, identify a row (the upsert's conflict target)."""
    on_conflict: Literal["update", "ignore"] = "update"
    alias: str | None = None
    """A short name under which the CLI offers ``steward <alias> load FILE.jsonl`` (one record per line)."""


@dataclass(frozen=True)
class SystemOfRecord:
    """A backend the tools act on: its tables (in foreign-key order) and the migrations that create them."""

    name: str
    tables: tuple[Table, ...]
    migrations: tuple[str, ...]
    """SQL in order; index + 1 is the version. Never edit a released entry: append."""


class Fault(Record):
    tool: str
    mode: Literal["timeout", "error", "invalid_output", "delay", "delay_after"]
    times: int = Field(default=1, ge=0)
    delay_ms: int = Field(default=0, ge=0, le=600_000)


FAULTS = SystemOfRecord(
    name="faults",
    tables=(Table("faults", Fault, key=("tool",)),),
    migrations=(),  # created by the kernel's own migrations: every tool call consults it
)
"""Injected misbehaviour of any tool (see :mod:`steward.tool_calls`): loadable like any table."""
_COLUMNS = {"faults": {"times": "remaining"}}


@dataclass
class Seed:
    """A validated seed: rows per table, each with its tenant settled."""

    tenant: str
    rows: dict[str, list[Record]]

    def tenants(self) -> set[str]:
        return {self.tenant} | {r.tenant for rows in self.rows.values() for r in rows if r.tenant}


def parse_seed(data: Any, systems: Iterable[SystemOfRecord]) -> Seed:
    """Validate a seed against the declared tables; the error names the table, row and field."""
    tables = {table.name: table for system in systems for table in system.tables}
    if not isinstance(data, dict):
        raise InvalidRequest('seed must be a JSON object: {"tenant": ..., "<table>": [records...]}')
    tenant = data.get("tenant", "default")
    if not isinstance(tenant, str) or not 1 <= len(tenant) <= 64:
        raise InvalidRequest("seed: tenant must be a string of 1 to 64 characters")
    if unknown := sorted(set(data) - set(tables) - {"tenant"}):
        raise InvalidRequest(f"seed names unknown table(s) {unknown}; declared tables: {', '.join(sorted(tables))}")
    rows: dict[str, list[Record]] = {}
    for name, table in tables.items():
        items = data.get(name, [])
        if not isinstance(items, list):
            raise InvalidRequest(f"seed: {name} must be a list of records")
        rows[name] = []
        for index, item in enumerate(items):
            try:
                rows[name].append(table.record.model_validate(item))
            except ValidationError as exc:
                raise InvalidRequest(f"seed does not match the sandbox format: {name}.{index}.{explain(exc)}") from None
    return Seed(tenant=tenant, rows=rows)


def read_seed(
    path: Path, systems: Iterable[SystemOfRecord], *, table: str | None = None, tenant: str | None = None
) -> Seed:
    """Parse and validate a seed file; errors name the file and the bad field. With ``table``, the file is JSON
    lines, one record of that table each."""
    try:
        text = path.read_text()
        if table is None:
            data = json.loads(text)
            if tenant is not None and isinstance(data, dict):
                data["tenant"] = tenant
            return parse_seed(data, systems)
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InvalidRequest(f"{path}:{number} is not valid JSON: {exc.msg}") from None
        return parse_seed({"tenant": tenant or "default", table: records}, systems)
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{path} is not valid JSON: {exc}") from None


def _value(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, (dict, list)) else value


def _upsert(table: Table) -> tuple[str, list[str]]:
    fields = [f for f in table.record.model_fields if f != "tenant"]
    rename = _COLUMNS.get(table.name, {})
    columns = ["tenant", *(rename.get(f, f) for f in fields)]
    conflict = ", ".join(["tenant", *table.key])
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in ("tenant", *table.key))
    action = f"DO UPDATE SET {updates}" if table.on_conflict == "update" and updates else "DO NOTHING"
    sql = (
        f"INSERT INTO sandbox.{table.name} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
        f" ON CONFLICT ({conflict}) {action}"
    )
    return sql, fields


async def load(pool: Pool, seed: Seed, systems: Iterable[SystemOfRecord], *, reset: bool = False) -> dict[str, int]:
    """Write a seed in one transaction; returns the number of records per table it had records for."""
    tables = [table for system in systems for table in system.tables]
    counts: dict[str, int] = {}
    try:
        async with pool.connection() as conn, conn.transaction():
            if reset:
                for table in reversed(tables):
                    await conn.execute(
                        trusted(f"DELETE FROM sandbox.{table.name} WHERE tenant = ANY(%s)"), (list(seed.tenants()),)
                    )
            for table in tables:
                records = seed.rows.get(table.name, [])
                sql, fields = _upsert(table)
                rows = [(r.tenant or seed.tenant, *(_value(getattr(r, f)) for f in fields)) for r in records]
                if rows:
                    async with conn.cursor() as cur:
                        await cur.executemany(trusted(sql), rows)
                    counts[table.name] = len(rows)
    except psycopg.errors.IntegrityError as exc:
        detail = exc.diag.message_detail or exc.diag.message_primary
        raise InvalidRequest(f"seed refers to records that do not exist: {detail}") from None
    return counts


async def show(
    pool: Pool, systems: Iterable[SystemOfRecord], tenant: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Every sandbox record (of one tenant, if given), table by table."""
    result: dict[str, list[dict[str, Any]]] = {}
    async with pool.connection() as conn:
        for table in (t for system in systems for t in system.tables):
            where = " WHERE tenant = %s" if tenant else ""
            cur = await conn.execute(
                trusted(f"SELECT * FROM sandbox.{table.name}{where} ORDER BY 1, 2"), (tenant,) if tenant else ()
            )
            result[table.name] = await cur.fetchall()
    return result


async def migrate(conn: Conn, systems: Iterable[SystemOfRecord]) -> None:
    """Apply each system of record's pending migrations (the caller holds the migration lock)."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS steward.system_migrations (system text NOT NULL,"
        " version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (system, version))"
    )
    for system in systems:
        cur = await conn.execute(
            "SELECT coalesce(max(version), 0) AS v FROM steward.system_migrations WHERE system = %s", (system.name,)
        )
        current = (await one(cur))["v"]
        for version, statement in enumerate(system.migrations, start=1):
            if version > current:
                await conn.execute(trusted(statement))
                await conn.execute(
                    "INSERT INTO steward.system_migrations (system, version) VALUES (%s, %s)", (system.name, version)
                )
