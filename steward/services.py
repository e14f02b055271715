"""The process-wide dependencies of a run: pool, checkpointer, models, policies, compiled graphs.

Open them once (``async with Services.open(settings) as services``) and pass them to runs through the
LangGraph runtime context (:class:`StewardContext`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import typing
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import SkipJsonSchema

from steward import db, tracing
from steward.budget import BudgetOverride
from steward.checkpoint import PooledPostgresSaver
from steward.controls import Switchboard
from steward.models import ModelRouter
from steward.notify import Notifier, PollingNotifier, Wakeups
from steward.pool import Pool
from steward.settings import Settings
from steward.tape import Tape
from steward.verdict import Policy
from steward.workflow import Catalog, Workflow, load_catalog

log = logging.getLogger(__name__)
CHECKPOINT_SETUP_LOCK = 0x5737_0002


def _model_types(root: Any, found: set[type]) -> set[type]:
    """Every pydantic model and enum reachable from a type annotation (for the checkpoint allowlist)."""
    if isinstance(root, type) and issubclass(root, (BaseModel, enum.Enum)) and root not in found:
        found.add(root)
        if issubclass(root, BaseModel):
            for info in root.model_fields.values():
                _model_types(info.annotation, found)
    for arg in typing.get_args(root):
        _model_types(arg, found)
    return found


@dataclass
class StewardContext:
    """LangGraph runtime context of one run (not checkpointed; given again on every resume)."""

    __pydantic_config__ = ConfigDict(arbitrary_types_allowed=True)  # services: a live object, not data

    tenant: str = "default"
    """The tenant whose systems of record the run may touch."""
    thread_id: str | None = None
    """The thread as its tenant names it (LangGraph's own thread id is the checkpoint key,
    :func:`steward.threads.checkpoint_thread`); None under ``langgraph dev``, whose thread id is used as it is."""
    user: str = "anonymous"
    """Who is acting: the requester when a run starts, the approver when it resumes."""
    services: SkipJsonSchema[Services | None] = None
    budget: BudgetOverride | None = None
    models: dict[str, str] = field(default_factory=dict)
    """Per-run tier overrides, e.g. ``{"small": "openai:gpt-4o-mini"}``."""
    tape: SkipJsonSchema[Tape | None] = None
    """A replay's recorded answers: when set, tools and models answer from it and nothing is written."""


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    """The workflows this process runs (from the ``workflows`` setting, or given to :meth:`open`)."""
    pool: Pool
    checkpointer: PooledPostgresSaver
    models: ModelRouter
    switchboard: Switchboard
    """The kill switches in force (read through a one-second cache)."""
    database_url: str = ""
    """The URL the service connects with (the least-privilege service role where there is one)."""
    notifier: Wakeups = field(default_factory=PollingNotifier)
    """Wakes waiters when runs end (a LISTEN connection in servers and workers; polling otherwise)."""
    _policies: dict[str, Policy] = field(default_factory=dict)
    _graphs: dict[str, CompiledStateGraph[Any, StewardContext, Any, Any]] = field(default_factory=dict)

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings | None = None,
        *,
        url: str | None = None,
        listen: bool = False,
        catalog: Catalog | None = None,
    ) -> AsyncGenerator[Services]:
        """Connect (starting embedded PostgreSQL if no URL is configured), migrate, and yield. ``listen``
        starts a LISTEN connection so waits for runs wake at once instead of polling. ``catalog``: the
        workflows to run (default: loaded from ``settings.workflows``)."""
        settings = settings or Settings()
        catalog = catalog or load_catalog(settings.workflows)
        if not tracing.enabled():
            tracing.configure(settings.otel_exporter, settings.otel_endpoint, settings.otel_service_name)
        owner_url = url or await asyncio.to_thread(db.resolve_database_url, settings)
        url = await cls._prepare(owner_url, settings, catalog)
        pool = await db.open_pool(
            url,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            timeout_s=settings.pool_timeout_s,
            prepare=settings.prepared_statements,
        )
        try:
            checkpointer = PooledPostgresSaver(pool, serde=cls._serde(catalog))
            models = ModelRouter(settings, catalog.skills, catalog.tool_names)
            services = cls(
                settings=settings,
                catalog=catalog,
                pool=pool,
                checkpointer=checkpointer,
                models=models,
                database_url=url,
                switchboard=Switchboard(pool),
            )
            await services._pin_policies()
            listener = Notifier(settings.listen_database_url or url) if listen else None
            if listener is not None:
                await listener.start()
                services.notifier = listener
            try:
                yield services
            finally:
                await models.aclose()
                if listener is not None:
                    await listener.stop()
        finally:
            await pool.close()

    @staticmethod
    async def _prepare(owner_url: str, settings: Settings, catalog: Catalog) -> str:
        """As the schema's owner: migrate the kernel, the systems of record and the checkpointer, and grant the
        service role its rights. Returns the URL the service connects with."""
        pool = await db.open_pool(owner_url, min_size=1, max_size=2, timeout_s=settings.pool_timeout_s)
        try:
            await db.migrate(pool, catalog.systems)
            async with pool.connection() as conn:
                await conn.execute("UPDATE steward.audit_retention SET days = %s", (settings.audit_retention_days,))
            async with pool.connection() as conn:  # serialise the saver's own migrations across processes
                await conn.execute("SELECT pg_advisory_lock(%s)", (CHECKPOINT_SETUP_LOCK,))
                try:
                    await PooledPostgresSaver(pool).setup()
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (CHECKPOINT_SETUP_LOCK,))
            return await db.grant_service_role(pool, owner_url, settings.service_role, settings.service_database_url)
        finally:
            await pool.close()

    @staticmethod
    def _serde(catalog: Catalog) -> JsonPlusSerializer:
        types: set[type] = set()
        for workflow in catalog.values():
            _model_types(workflow.state_schema, types)
        return JsonPlusSerializer(allowed_msgpack_modules=[(t.__module__, t.__name__) for t in types])

    async def _pin_policies(self) -> None:
        """Load every workflow's policy now (a bad policy file stops start-up) and store its source by version."""
        async with self.pool.connection() as conn:
            for name in (name for name, workflow in self.catalog.items() if workflow.policy is not None):
                policy = self.policy(name)
                await conn.execute(
                    "INSERT INTO steward.policy_versions (version, workflow, source)"
                    " VALUES (%s, %s, %s) ON CONFLICT (version) DO NOTHING",
                    (policy.version, name, policy.source),
                )

    def with_policy(self, workflow: str, policy: Policy) -> Services:
        """A view of these services deciding ``workflow`` under another policy (for replays)."""
        return dataclasses.replace(self, _policies={**self._policies, workflow: policy}, _graphs=self._graphs)

    def workflow(self, name: str) -> Workflow:
        """The declared workflow called ``name`` (NotFound names the known ones)."""
        return self.catalog.get_workflow(name)

    def policy(self, workflow: str) -> Policy:
        """The workflow's policy (loaded once; ``settings.policy_dir`` may hold a replacement file)."""
        if workflow not in self._policies:
            source = self.workflow(workflow).policy
            if source is None:
                raise ValueError(f"workflow {workflow} declares no policy (it calls no tools)")
            self._policies[workflow] = source.load(self.settings.policy_dir)
        return self._policies[workflow]

    def graph(self, workflow: str) -> CompiledStateGraph[Any, StewardContext, Any, Any]:
        """The workflow's graph compiled with the Postgres checkpointer (compiled once)."""
        if workflow not in self._graphs:
            compiled = self.workflow(workflow).make_graph().compile(checkpointer=self.checkpointer, name=workflow)
            self._graphs[workflow] = cast(CompiledStateGraph[Any, StewardContext, Any, Any], compiled)
        return self._graphs[workflow]

    def run_config(self, checkpoint_thread: str, run_id: str, **extra: Any) -> RunnableConfig:
        """LangGraph config for one invocation (``checkpoint_thread``: :func:`steward.threads.checkpoint_thread`
        of the thread), with the recursion limit set explicitly."""
        config = {
            "configurable": {"thread_id": checkpoint_thread},
            "run_id": run_id,  # a string: LangGraph records it as given
            "recursion_limit": self.settings.recursion_limit,
            **extra,
        }
        return cast(RunnableConfig, config)
