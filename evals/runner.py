"""Run eval cases through LangSmith's ``evaluate``: each case on a fresh sandbox tenant in real Postgres.

``evaluate`` is the sync one, so it neither traces nor uploads unless asked: without a LangSmith key its client
points at an unused loopback address and ``upload_results`` is off (no network call); with
``LANGSMITH_API_KEY`` set, the cases are uploaded as a dataset and the run as an experiment. Cases run in
parallel (``concurrency``) on one background event loop that owns the database pool; each has its own tenant,
so they cannot see each other's records.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import threading
import time
import uuid
import warnings
from collections.abc import Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from langsmith import Client
from langsmith.evaluation import evaluate
from langsmith.schemas import Example

from evals import evaluators, oracle
from evals.cases import Case
from steward import audit, operations, sandbox, threads
from steward.errors import InvalidRequest, StewardError
from steward.jsonable import jsonable
from steward.pool import trusted
from steward.services import Services
from steward.settings import Settings
from steward.workflow import Catalog

NAMESPACE = uuid.UUID("0d7bb1a4-3f7e-4a0e-9a57-4c9f3e1c2b55")


@dataclass
class CaseRun:
    """One case, what its run did, and each evaluator's verdict."""

    case: Case
    outputs: dict[str, Any]
    verdicts: dict[str, tuple[bool, str]]

    @property
    def passed(self) -> bool:
        return all(ok for ok, _ in self.verdicts.values())


async def run_case(services: Services, case: Case, *, tag: str, models: dict[str, str]) -> dict[str, Any]:
    """Load the case's sandbox into a fresh tenant, run it (feeding its decisions), and observe the result."""
    tenant = re.sub(r"[^a-z0-9-]", "-", f"eval-{tag}-{case.id}")[:60]
    workflow, systems = services.workflow(case.workflow), services.catalog.systems
    await sandbox.load(services.pool, sandbox.parse_seed(case.sandbox(tenant), systems), systems, reset=True)
    started = time.perf_counter()
    out: dict[str, Any] = {"case_id": case.id, "tenant": tenant, "interrupts": 0, "values": {}, "thread_id": None}
    try:
        result = await operations.start_run(
            services, case.workflow, case.input, tenant=tenant, user="eval-requester", models=models
        )
    except StewardError as exc:
        result = None
        out |= {"status": "invalid_input", "reason_code": type(exc).__name__, "reason": str(exc)}
    decisions, refused = list(case.decisions), []
    paused = result is not None and result.status == "interrupted"
    out["interrupts"] += paused
    while result is not None and decisions:  # every decision is offered; one with nothing to decide is refused
        decision = decisions.pop(0)
        decider = decision.get("decided_by", "eval-approver")
        try:
            result = await operations.resume_run(services, result.thread_id, decision, tenant=tenant, user=decider)
        except StewardError as exc:  # refused before anything ran (e.g. the same approver twice)
            refused.append(f"{decider}: {exc}")
            continue
        paused = result.status == "interrupted"
        out["interrupts"] += paused
    out["refused"] = refused
    out["latency_ms"] = (time.perf_counter() - started) * 1000
    if result is not None:
        out |= {
            "status": result.status,
            "thread_id": result.thread_id,
            "reason_code": result.outcome.reason_code if result.outcome else None,
            "reason": result.outcome.reason if result.outcome else result.error,
        }
    events = await audit.events_for(services.pool, out["thread_id"], tenant) if out["thread_id"] else []
    if out["thread_id"]:
        state = await services.graph(case.workflow).aget_state(threads.checkpoint_config(tenant, out["thread_id"]))
        out["values"] = jsonable(state.values)
    created = await oracle.writes(services, workflow, tenant)
    out |= {
        "tool_calls": [e["tool"] for e in events if e["type"] == "tool_call"],
        "cost_usd": str(sum((Decimal(e["cost_usd"] or "0") for e in events), Decimal("0")).normalize()),
        "tokens": sum(e["tokens"] or 0 for e in events),
        "writes": jsonable(created),
        "violations": await oracle.violations(services, workflow, tenant, created, events),
        "rows": jsonable(await table_rows(services, tenant, list(case.expect.rows or {}))),
    }
    return out


async def table_rows(services: Services, tenant: str, tables: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The tenant's rows of the named sandbox tables (each must be declared by a system of record)."""
    declared = {table.name for system in services.catalog.systems for table in system.tables}
    if unknown := sorted(set(tables) - declared):
        raise InvalidRequest(f"expect.rows names undeclared tables {unknown}")
    found = {}
    async with services.pool.connection() as conn:
        for table in tables:
            cur = await conn.execute(trusted(f"SELECT * FROM sandbox.{table} WHERE tenant = %s"), (tenant,))
            found[table] = await cur.fetchall()
    return found


async def forget_tenants(services: Services, prefix: str) -> None:
    """Delete the sandbox rows, threads, runs and checkpoints of every tenant named ``prefix...``."""
    pattern = prefix.replace("%", "").replace("_", "\\_") + "%"
    tables = [table.name for system in services.catalog.systems for table in system.tables]
    async with services.pool.connection() as conn, conn.transaction():
        for table in reversed(tables):
            await conn.execute(trusted(f"DELETE FROM sandbox.{table} WHERE tenant LIKE %s"), (pattern,))
        cur = await conn.execute(
            "DELETE FROM steward.threads WHERE tenant LIKE %s RETURNING tenant, thread_id", (pattern,)
        )
        gone = [threads.checkpoint_thread(row["tenant"], row["thread_id"]) for row in await cur.fetchall()]
        for table in threads.CHECKPOINT_TABLES:
            await conn.execute(f"DELETE FROM {table} WHERE thread_id = ANY(%s)", (gone,))


def failed_outputs(error: str) -> dict[str, Any]:
    """What a case that crashed (instead of ending in an outcome) counts as."""
    return {
        "status": "error",
        "reason_code": "eval.crashed",
        "reason": error,
        "interrupts": 0,
        "values": {},
        "tool_calls": [],
        "cost_usd": "0",
        "tokens": 0,
        "writes": {},
        "rows": {},
        "violations": [],
        "refused": [],
        "latency_ms": 0.0,
    }


class Loop:
    """An event loop in a background thread, owning the services the cases run on."""

    def __init__(self, settings: Settings, catalog: Catalog | None = None) -> None:
        self.settings, self.catalog = settings, catalog
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="steward-eval-loop", daemon=True)
        self._stack: Any = None
        self.services: Services | None = None

    def __enter__(self) -> Loop:
        self._thread.start()
        self._stack = Services.open(self.settings, catalog=self.catalog)
        self.services = self.run(self._stack.__aenter__())
        return self

    def opened(self) -> Services:
        """The services, once the loop has opened them."""
        if self.services is None:
            raise RuntimeError("the loop is not open")
        return self.services

    def run(self, coro: Coroutine) -> Any:
        """Run ``coro`` on the loop and wait. It starts in an empty context: LangSmith's tracing context from
        ``evaluate``'s thread must not reach the workflow (it would trace every step to LangSmith)."""
        return contextvars.Context().run(asyncio.run_coroutine_threadsafe, coro, self.loop).result()

    def __exit__(self, *exc: Any) -> None:
        try:
            self.run(self._stack.__aexit__(None, None, None))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


def langsmith_client(settings: Settings) -> tuple[Client, bool]:
    """The LangSmith client and whether to upload: only with an API key configured."""
    if settings.langsmith_api_key:
        return Client(api_url=settings.langsmith_endpoint, api_key=settings.langsmith_api_key.get_secret_value()), True
    return Client(api_url="http://127.0.0.1:9", api_key="offline", auto_batch_tracing=False), False


def _examples(cases: list[Case], client: Client, upload: bool, name: str) -> list[Example]:
    def example_id(case: Case) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"{case.workflow}:{case.dataset}:{case.id}")

    dataset_id = uuid.uuid5(NAMESPACE, name)  # offline, a stable stand-in
    if upload:
        dataset = (
            client.read_dataset(dataset_name=name)
            if client.has_dataset(dataset_name=name)
            else client.create_dataset(name, description="Steward eval cases")
        )
        dataset_id = dataset.id
        known = {example.id for example in client.list_examples(dataset_id=dataset.id)}
        fresh = [
            {
                "id": example_id(c),
                "inputs": {"case": c.model_dump(mode="json")},
                "reference_outputs": c.expect.model_dump(mode="json"),
                "metadata": {"dataset": c.dataset, "tags": c.tags},
            }
            for c in cases
            if example_id(c) not in known
        ]
        if fresh:
            client.create_examples(dataset_id=dataset.id, examples=fresh)
    return [
        Example(
            id=example_id(c),
            dataset_id=dataset_id,
            inputs={"case": c.model_dump(mode="json")},
            outputs=c.expect.model_dump(mode="json"),
        )
        for c in cases
    ]


def evaluate_cases(
    cases: list[Case],
    settings: Settings,
    *,
    models: dict[str, str] | None = None,
    concurrency: int = 8,
    experiment_prefix: str = "steward",
    catalog: Catalog | None = None,
    keep: bool = False,
) -> tuple[list[CaseRun], str | None]:
    """Run and evaluate ``cases`` (on ``catalog``'s workflows, default the configured ones); returns the
    results and the experiment name if it was uploaded. The cases' tenants are removed afterwards (sandbox rows,
    threads, runs and checkpoints; audit events stay, being append-only) unless ``keep``."""
    client, upload = langsmith_client(settings)
    tag = uuid.uuid4().hex[:6]
    workflows = "-".join(sorted({c.workflow for c in cases}))
    with Loop(settings, catalog) as loop:
        services = loop.opened()

        def target(inputs: dict[str, Any]) -> dict[str, Any]:
            case = Case.model_validate(inputs["case"])
            return loop.run(run_case(services, case, tag=tag, models=models or {}))

        examples = _examples(cases, client, upload, f"steward-{workflows}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # upload_results is flagged as beta
            checks = [evaluators.as_langsmith(name) for name in evaluators.CHECKS]
            results = evaluate(
                target,
                data=examples,
                evaluators=checks,
                client=client,
                upload_results=upload,
                max_concurrency=concurrency,
                experiment_prefix=f"{experiment_prefix}-{workflows}",
                metadata={"models": models or {}, "cases": len(cases)},
            )
            rows = list(results)
        experiment = results.experiment_name if upload else None
        if not keep:
            loop.run(forget_tenants(services, f"eval-{tag}-"))
    if upload:
        client.flush()
    by_id = {(case.workflow, case.id): case for case in cases}  # ids are unique within a workflow
    runs = []
    for row in rows:
        example = row["example"]
        if example is None:
            raise RuntimeError("LangSmith returned an evaluation without its example")
        stored = (example.inputs or {})["case"]
        case = by_id[(stored["workflow"], stored["id"])]
        outputs = row["run"].outputs or failed_outputs(str(row["run"].error))
        verdicts = {r.key: (bool(r.score), r.comment or "") for r in row["evaluation_results"]["results"]}
        runs.append(CaseRun(case=case, outputs=outputs, verdicts=verdicts))
    return sorted(runs, key=lambda r: (r.case.workflow, r.case.dataset, r.case.id)), experiment
