"""Process settings, read once from the environment (prefix ``STEWARD_``) or a ``.env`` file.

Nothing else in Steward reads the environment: modules receive a ``Settings`` instance.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from steward.errors import InvalidRequest, settings_problem


class ModelPrice(BaseModel):
    """USD price of one million tokens for a model."""

    input_per_mtok: Decimal
    output_per_mtok: Decimal


DEFAULT_PRICES: dict[str, ModelPrice] = {
    "rules": ModelPrice(input_per_mtok=Decimal("0"), output_per_mtok=Decimal("0")),
    "chaos": ModelPrice(input_per_mtok=Decimal("0"), output_per_mtok=Decimal("0")),
    "gpt-4o-mini": ModelPrice(input_per_mtok=Decimal("0.15"), output_per_mtok=Decimal("0.60")),
    "gpt-4o": ModelPrice(input_per_mtok=Decimal("2.50"), output_per_mtok=Decimal("10.00")),
    "gpt-4.1-mini": ModelPrice(input_per_mtok=Decimal("0.40"), output_per_mtok=Decimal("1.60")),
    "gpt-4.1": ModelPrice(input_per_mtok=Decimal("2.00"), output_per_mtok=Decimal("8.00")),
}

MODEL_TIERS = ("small", "medium", "large")


def check_provider(value: str) -> str:
    """Accept ``rules``, ``openai:<model>`` or ``chaos:<seed>`` (the hostile test model); anything else is a
    configuration error."""
    if value == "rules" or (value.startswith("openai:") and len(value) > len("openai:")):
        return value
    if value.startswith("chaos:") and value.removeprefix("chaos:").isdigit():
        return value
    raise ValueError(
        f"model provider {value!r} is not 'rules', 'openai:<model>' (e.g. openai:gpt-4o-mini) or 'chaos:<seed>'"
    )


class Settings(BaseSettings):
    """All of Steward's configuration. Env names are the field names upper-cased with ``STEWARD_``."""

    model_config = SettingsConfigDict(
        env_prefix="STEWARD_",
        env_file=".env",
        extra="ignore",
        protected_namespaces=(),
        validate_by_name=True,
        validate_by_alias=True,
    )

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("STEWARD_DATABASE_URL", "DATABASE_URL")
    )
    """PostgreSQL URL of the schema's owner (migrations run as it). Unset: an embedded PostgreSQL is started in
    ``data_dir``."""
    service_database_url: str | None = None
    """The URL the service runs as. Unset: Steward creates ``service_role`` (when the owner may create roles) and
    connects as it; it may change data but not the schema, and only insert and read the audit log."""
    service_role: str = Field(default="steward_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    data_dir: Path = Path(".steward")
    """Where the embedded PostgreSQL keeps its files (and other local state)."""
    database_name: str = "steward"
    """Database created inside the embedded server."""
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=20, ge=1)
    pool_timeout_s: float = Field(default=5.0, gt=0)
    """How long a request waits for a database connection before it is answered 503."""
    prepared_statements: bool = True
    """Let psycopg prepare statements it runs often (server-side). Set false when the service URL goes through a
    PgBouncer in transaction mode older than 1.21 (or without ``max_prepared_statements``), which cannot keep
    them."""
    listen_database_url: str | None = None
    """A direct (session) connection for LISTEN, when the service URL goes through a transaction-mode pooler that
    cannot hold one. Unset: the service URL (behind such a pooler, waiters then poll, waking within a second)."""

    model_small: str = "rules"
    """Provider for the small tier: ``rules`` (deterministic, offline) or ``openai:<model>``."""
    model_medium: str = "rules"
    model_large: str = "rules"
    openai_base_url: str | None = None
    """Base URL of any OpenAI-compatible server (``None``: api.openai.com)."""
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("STEWARD_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    model_timeout_s: float = Field(default=30.0, gt=0)
    model_max_retries: int = Field(default=2, ge=0)
    prices: dict[str, ModelPrice] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    """Price table by model name; a model missing here is priced at zero and logged."""

    host: str = "127.0.0.1"
    """Where ``steward serve`` listens."""
    port: int = Field(default=8123, ge=1, le=65535)
    server_processes: int = Field(default=1, ge=1)
    """uvicorn worker processes for ``steward serve``."""
    auth_disabled: bool = False
    """Serve without API keys (every caller is an admin of tenant ``default``). Only set this on purpose."""
    cors_origins: list[str] = Field(default_factory=lambda: ["https://smith.langchain.com"])
    """Browser origins allowed to call the API (LangGraph Studio's by default); ``["*"]`` allows any."""
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    """OpenTelemetry traces of runs (see :mod:`steward.tracing`): off, printed, or sent over OTLP/HTTP."""
    otel_endpoint: str | None = None
    """The OTLP/HTTP traces endpoint (unset: the exporter's default, http://localhost:4318/v1/traces)."""
    otel_service_name: str = "steward"
    access_log: bool = True
    """``steward serve`` logs one line per request (method, path, status, latency, tenant, key name)."""
    metrics_token: SecretStr | None = None
    """A bearer token for ``GET /metrics`` (Prometheus' ``authorization`` setting). Unset: only loopback clients
    may read the metrics (they name tenants and workflows)."""
    api_key: SecretStr | None = None
    """The key the command line acts as in commands that act for someone (``run``, ``resume``, controls,
    escalations) when no ``--key`` or ``--local`` is given: its name is who acts, its tenant where."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """The largest request body ``steward serve`` accepts (413 above)."""
    workers: int = Field(default=64, ge=0)
    """Background runs each server process executes at once (0: none; ``steward worker`` runs more elsewhere).
    Runs hold a database connection only per statement, so this may well exceed ``pool_max_size``."""
    checkpoint_retention_s: float = Field(default=3600.0, ge=0)
    """A finished thread keeps only its latest checkpoint once it has been finished this long (see
    :mod:`steward.retention`)."""
    audit_retention_days: int | None = Field(default=None, ge=1)
    """Audit events older than this many days are deleted by the workers' sweeper, except those of threads in
    flight or waiting for people; unset, the trail is kept for ever. Set by the schema's owner at start-up (the
    service role may not change it)."""
    run_lease_s: float = Field(default=30.0, gt=0)
    """How long a run stays claimed without a heartbeat before another worker may take it over."""
    inline_grace_s: float = Field(default=30.0, ge=0)
    """How long background workers leave a queued wait/stream run to the process that accepted it."""

    langsmith_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("STEWARD_LANGSMITH_API_KEY", "LANGSMITH_API_KEY")
    )
    """With a key, ``steward eval`` uploads its dataset and experiment to LangSmith; without, nothing leaves."""
    langsmith_endpoint: str = Field(
        default="https://api.smith.langchain.com",
        validation_alias=AliasChoices("STEWARD_LANGSMITH_ENDPOINT", "LANGSMITH_ENDPOINT"),
    )

    workflows: str = "graphs"
    """The module (``module`` or ``module:attribute``) whose ``WORKFLOWS`` this deployment runs."""
    policy_dir: Path | None = None
    """Directory of ``<workflow>.toml`` policy files overriding the shipped ones."""
    recursion_limit: int = Field(default=64, ge=8)
    """LangGraph's hard step limit; budgets end runs long before it."""

    @field_validator("model_small", "model_medium", "model_large")
    @classmethod
    def _provider(cls, value: str) -> str:
        return check_provider(value)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must not exceed pool_max_size")
        uses_openai = any(getattr(self, f"model_{tier}").startswith("openai:") for tier in MODEL_TIERS)
        if uses_openai and self.openai_api_key is None and self.openai_base_url is None:
            raise ValueError("an openai: model tier needs STEWARD_OPENAI_API_KEY or STEWARD_OPENAI_BASE_URL")
        return self

    def check_routable(self, models: dict[str, str], where: str) -> None:
        """Refuse tier overrides to ``openai:`` models when no endpoint is configured (no key, no base URL), up
        front rather than as a run escalated with ``model.unavailable``; ``where`` names the option."""
        remote = sorted(tier for tier, provider in models.items() if provider.startswith("openai:"))
        if remote and self.openai_api_key is None and self.openai_base_url is None:
            raise InvalidRequest(
                f"{where} routes {', '.join(remote)} to an openai: model, but this deployment has no"
                " STEWARD_OPENAI_API_KEY or STEWARD_OPENAI_BASE_URL"
            )

    def model_for_tier(self, tier: str) -> str:
        """The provider string configured for a tier (``small``/``medium``/``large``)."""
        if tier not in MODEL_TIERS:
            raise ValueError(f"unknown model tier {tier!r}; expected one of {', '.join(MODEL_TIERS)}")
        return getattr(self, f"model_{tier}")


def load_settings() -> Settings:
    """The process's settings; a mistake in them is an :class:`~steward.errors.InvalidRequest` naming the
    variables in one line (the CLI answers it with exit 2)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidRequest(f"invalid configuration: {settings_problem(exc)}") from None
