"""Operations system of record: services, their deploys, logs and metrics, and the incidents and remediations
agents record (``sandbox.ops_services``, ``deploys``, ``logs``, ``metrics``, ``incidents``, ``remediations``).

Seeds may give times relative to when they are loaded (``"-3h"``, ``"-10d"``), so an eval case can say "deployed
two hours ago" whenever it runs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from steward.contracts import READ_RETRY, MaxCap, ToolContext, fetch_one, tool_contract, write_once
from steward.sandbox import Record, SystemOfRecord, Table
from steward.tool_errors import RecordNotFound, ToolInputError

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)([mhd])$")


def when(value: Any) -> Any:
    """``"-3h"`` / ``"-10d"`` / ``"-30m"`` as that long before now; anything else as given."""
    if isinstance(value, str) and (match := _RELATIVE.match(value)):
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match[2]]
        return datetime.now(UTC) - timedelta(**{unit: float(match[1])})
    return value


class ServiceRecord(Record):
    id: Id
    name: str = Field(min_length=1)
    environment: Literal["production", "staging"]
    version: str = Field(min_length=1)
    replicas: int = Field(default=2, ge=0, le=100)
    flags: dict[str, bool] = Field(default_factory=dict)


class DeployRecord(Record):
    id: Id
    service_id: str
    version: str
    deployed_at: datetime

    @field_validator("deployed_at", mode="before")
    @classmethod
    def _relative(cls, value: Any) -> Any:
        return when(value)


class LogRecord(Record):
    id: Id
    service_id: str
    ts: datetime
    level: Literal["DEBUG", "INFO", "WARN", "ERROR"]
    message: str = Field(max_length=2000)

    @field_validator("ts", mode="before")
    @classmethod
    def _relative(cls, value: Any) -> Any:
        return when(value)


class MetricRecord(Record):
    id: Id
    service_id: str
    series: str = Field(min_length=1, max_length=64)
    ts: datetime
    value: Decimal

    @field_validator("ts", mode="before")
    @classmethod
    def _relative(cls, value: Any) -> Any:
        return when(value)


class IncidentRecord(Record):
    """An incident opened before the sandbox was loaded (no run wrote it)."""

    id: int = Field(ge=1)
    alert_id: Id
    service_id: str
    severity: Literal["sev1", "sev2", "sev3"] = "sev2"
    summary: str = "opened earlier"
    evidence: list[str] = Field(default_factory=list)
    idempotency_key: str | None = None

    @model_validator(mode="after")
    def _seed_key(self) -> IncidentRecord:
        self.idempotency_key = self.idempotency_key or f"seed:{self.alert_id}"
        return self


OPS = SystemOfRecord(
    name="ops",
    tables=(
        Table("ops_services", ServiceRecord),
        Table("ops_deploys", DeployRecord),
        Table("ops_logs", LogRecord),
        Table("ops_metrics", MetricRecord),
        Table("incidents", IncidentRecord),
    ),
    migrations=(
        """
        CREATE TABLE IF NOT EXISTS sandbox.ops_services (
            tenant text NOT NULL, id text NOT NULL, name text NOT NULL,
            environment text NOT NULL CHECK (environment IN ('production', 'staging')),
            version text NOT NULL, replicas integer NOT NULL CHECK (replicas >= 0),
            flags jsonb NOT NULL DEFAULT '{}',
            PRIMARY KEY (tenant, id)
        );
        CREATE TABLE IF NOT EXISTS sandbox.ops_deploys (
            tenant text NOT NULL, id text NOT NULL, service_id text NOT NULL, version text NOT NULL,
            deployed_at timestamptz NOT NULL,
            PRIMARY KEY (tenant, id), FOREIGN KEY (tenant, service_id) REFERENCES sandbox.ops_services (tenant, id)
        );
        CREATE TABLE IF NOT EXISTS sandbox.ops_logs (
            tenant text NOT NULL, id text NOT NULL, service_id text NOT NULL, ts timestamptz NOT NULL,
            level text NOT NULL, message text NOT NULL,
            PRIMARY KEY (tenant, id), FOREIGN KEY (tenant, service_id) REFERENCES sandbox.ops_services (tenant, id)
        );
        CREATE INDEX IF NOT EXISTS ops_logs_recent ON sandbox.ops_logs (tenant, service_id, ts DESC);
        CREATE TABLE IF NOT EXISTS sandbox.ops_metrics (
            tenant text NOT NULL, id text NOT NULL, service_id text NOT NULL, series text NOT NULL,
            ts timestamptz NOT NULL, value numeric NOT NULL,
            PRIMARY KEY (tenant, id), FOREIGN KEY (tenant, service_id) REFERENCES sandbox.ops_services (tenant, id)
        );
        CREATE TABLE IF NOT EXISTS sandbox.incidents (
            tenant text NOT NULL, id bigserial, alert_id text NOT NULL, service_id text NOT NULL,
            severity text NOT NULL, summary text NOT NULL, evidence jsonb NOT NULL,
            thread_id text, idempotency_key text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant, id), UNIQUE (tenant, alert_id), UNIQUE (tenant, idempotency_key)
        );
        CREATE TABLE IF NOT EXISTS sandbox.remediations (
            tenant text NOT NULL, id bigserial, incident_id bigint NOT NULL, service_id text NOT NULL,
            action text NOT NULL, replicas integer, version text, flag text, reason text NOT NULL,
            approvers jsonb NOT NULL DEFAULT '[]',
            thread_id text NOT NULL, idempotency_key text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant, id), UNIQUE (tenant, idempotency_key)
        );
        """,
    ),
)


class ServiceQuery(BaseModel):
    service_id: Id


class Service(BaseModel):
    id: str
    name: str
    environment: str
    version: str
    replicas: int
    flags: dict[str, bool]


class LogLine(BaseModel):
    id: str
    ts: datetime
    level: str
    message: str


class Series(BaseModel):
    series: str
    latest: Decimal
    baseline: Decimal
    """The median of the earlier points (what "normal" looks like)."""
    points: int


class Deploy(BaseModel):
    version: str
    deployed_at: datetime
    age_h: Decimal


class Observations(BaseModel):
    service: Service
    logs: list[LogLine]
    metrics: list[Series]
    deploys: list[Deploy]


@tool_contract(
    name="observe_service",
    version="1.0.0",
    kind="read",
    scope="ops:telemetry:read",
    risk="low",
    owner="sre-platform",
    output=Observations,
    timeout_s=3.0,
    retry=READ_RETRY,
)
async def observe_service(args: ServiceQuery, ctx: ToolContext) -> dict[str, Any]:
    """Read a service with its 50 most recent log lines, its metric series and its deploys (newest first)."""
    service = await fetch_one(
        ctx,
        "observe_service",
        f"service {args.service_id!r}",
        "SELECT id, name, environment, version, replicas, flags FROM sandbox.ops_services"
        " WHERE tenant = %s AND id = %s",
        (ctx.tenant, args.service_id),
    )
    key = (ctx.tenant, args.service_id)
    async with ctx.pool.connection() as conn:
        logs = await (
            await conn.execute(
                "SELECT id, ts, level, message FROM sandbox.ops_logs WHERE tenant = %s"
                " AND service_id = %s ORDER BY ts DESC, id LIMIT 50",
                key,
            )
        ).fetchall()
        points = await (
            await conn.execute(
                "SELECT series, value FROM sandbox.ops_metrics WHERE tenant = %s"
                " AND service_id = %s ORDER BY series, ts",
                key,
            )
        ).fetchall()
        deploys = await (
            await conn.execute(
                "SELECT version, deployed_at, round((extract(epoch FROM now() - deployed_at) / 3600)::numeric, 1)"
                " AS age_h FROM sandbox.ops_deploys WHERE tenant = %s AND service_id = %s ORDER BY deployed_at DESC",
                key,
            )
        ).fetchall()
    series: dict[str, list[Decimal]] = {}
    for point in points:
        series.setdefault(point["series"], []).append(point["value"])
    metrics = [
        {
            "series": name,
            "latest": values[-1],
            "points": len(values),
            "baseline": sorted(values[:-1])[len(values[:-1]) // 2] if len(values) > 1 else values[-1],
        }
        for name, values in series.items()
    ]
    return {"service": service, "logs": logs, "metrics": metrics, "deploys": deploys}


class NewIncident(BaseModel):
    alert_id: Id
    service_id: Id
    severity: Literal["sev1", "sev2", "sev3"]
    summary: str = Field(min_length=1, max_length=4000)
    evidence: list[str] = Field(min_length=1, max_length=50)


class Incident(BaseModel):
    id: int
    alert_id: str
    service_id: str
    severity: str
    summary: str
    deduplicated: bool = False
    """True when this alert already had an incident: that one is returned, no second one is opened."""


@tool_contract(
    name="open_incident",
    version="1.0.0",
    kind="write",
    scope="ops:incidents:write",
    risk="low",
    owner="sre-platform",
    output=Incident,
    timeout_s=5.0,
    writes_to="incidents",
)
async def open_incident(args: NewIncident, ctx: ToolContext) -> dict[str, Any]:
    """Open an incident ticket for an alert, with a summary and the evidence ids that support it (one per alert)."""
    async with ctx.pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{ctx.tenant}:{args.alert_id}",))
        cur = await conn.execute(
            "SELECT * FROM sandbox.incidents WHERE tenant = %s AND alert_id = %s", (ctx.tenant, args.alert_id)
        )
        if (existing := await cur.fetchone()) is not None:
            return {**existing, "deduplicated": True}
        return await write_once(conn, ctx, "open_incident", "incidents", args.model_dump())


Action = Literal["restart", "scale", "rollback", "flag_off"]
MAX_REPLICAS = 50


class RemediationInput(BaseModel):
    incident_id: int = Field(ge=1)
    service_id: Id
    action: Action
    replicas: int | None = Field(default=None, ge=1)
    """For ``scale``: the new replica count."""
    version: str | None = Field(default=None, min_length=1, max_length=64)
    """For ``rollback``: the version to return to."""
    flag: str | None = Field(default=None, min_length=1, max_length=64)
    """For ``flag_off``: the feature flag to turn off."""
    reason: str = Field(min_length=1, max_length=500)


class Remediation(BaseModel):
    id: int
    service_id: str
    action: str
    replicas: int | None
    version: str | None
    flag: str | None
    approvers: list[str]
    deduplicated: bool = False


class RemediationFacts(BaseModel):
    service_found: bool
    environment: str | None
    target_known: bool
    """The rollback version was deployed before, the flag exists, or the action needs no target."""
    rollback_target_age_h: Decimal | None
    """How long ago the rollback target was deployed (None for other actions)."""
    current_replicas: int | None


async def remediation_facts(args: RemediationInput, ctx: ToolContext) -> RemediationFacts:
    """What the ops system says about a proposed remediation: the service, its environment and the target."""
    async with ctx.pool.connection() as conn:
        service = await (
            await conn.execute(
                "SELECT environment, replicas, flags FROM sandbox.ops_services WHERE tenant = %s AND id = %s",
                (ctx.tenant, args.service_id),
            )
        ).fetchone()
        deploy = await (
            await conn.execute(
                "SELECT round((extract(epoch FROM now() - max(deployed_at)) / 3600)::numeric, 1) AS age_h"
                " FROM sandbox.ops_deploys WHERE tenant = %s AND service_id = %s AND version = %s",
                (ctx.tenant, args.service_id, args.version or ""),
            )
        ).fetchone()
    age = deploy["age_h"] if deploy else None
    known = {
        "rollback": age is not None,
        "flag_off": bool(service and args.flag in service["flags"]),
        "scale": args.replicas is not None,
        "restart": True,
    }[args.action]
    return RemediationFacts(
        service_found=service is not None,
        environment=service["environment"] if service else None,
        target_known=known,
        rollback_target_age_h=age if args.action == "rollback" else None,
        current_replicas=service["replicas"] if service else None,
    )


@tool_contract(
    name="remediate",
    version="1.0.0",
    kind="write",
    scope="ops:services:remediate",
    risk="high",
    owner="sre-platform",
    output=Remediation,
    timeout_s=5.0,
    caps=(MaxCap(name="max_replicas", field="replicas", limit=Decimal(MAX_REPLICAS)),),
    facts=remediation_facts,
    writes_to="remediations",
    rate_per_minute=6,  # a tenant's agents never restart, roll back or scale more than this: a loop guard
)
async def remediate(args: RemediationInput, ctx: ToolContext) -> dict[str, Any]:
    """Apply one remediation from the catalogue to a service: restart, scale to N replicas, roll back to an
    earlier version, or turn a feature flag off."""
    changes = {
        "restart": ("", ()),
        "scale": ("replicas = %s", (args.replicas,)),
        "rollback": ("version = %s", (args.version,)),
        "flag_off": ("flags = jsonb_set(flags, ARRAY[%s], 'false')", (args.flag,)),
    }[args.action]
    if args.action != "restart" and None in changes[1]:
        raise ToolInputError("remediate", f"{args.action} needs its target (replicas, version or flag)")
    async with ctx.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT id FROM sandbox.ops_services WHERE tenant = %s AND id = %s FOR UPDATE",
            (ctx.tenant, args.service_id),
        )
        if await cur.fetchone() is None:
            raise RecordNotFound("remediate", f"no service {args.service_id!r} in tenant {ctx.tenant!r}")
        row = await write_once(
            conn, ctx, "remediate", "remediations", {**args.model_dump(), "approvers": list(ctx.approvers)}
        )
        if changes[0] and not row["deduplicated"]:
            await conn.execute(
                f"UPDATE sandbox.ops_services SET {changes[0]} WHERE tenant = %s AND id = %s",
                (*changes[1], ctx.tenant, args.service_id),
            )
        return row
