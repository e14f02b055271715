"""``steward doctor``: what would stop this deployment from working, checked now, each with what to do.

Four checks, each independent of the others' success where it can be: the workflows and their policies (loaded as
``steward serve`` loads them), the configured models (every tier's provider; an OpenAI-compatible endpoint is asked
for its model list, so a wrong URL or key shows here rather than as ``model.error`` on the first run), the database
(reachable, migrated, the least-privilege role in use, notifications heard), and the API keys (some exist, and how
many per tenant). The result is one line per finding: ``ok``, ``warn`` (works, but look) or ``fail``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

import httpx

from steward import db
from steward.errors import StewardError
from steward.notify import Notifier
from steward.pool import one
from steward.services import Services
from steward.settings import MODEL_TIERS, Settings
from steward.workflow import Catalog, load_catalog

Level = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    detail: str


def workflows_and_policies(settings: Settings) -> tuple[Catalog | None, list[Finding]]:
    """The catalog ``settings.workflows`` names, and each workflow's policy (with ``settings.policy_dir``)."""
    try:
        catalog = load_catalog(settings.workflows)
    except (StewardError, ImportError) as exc:
        return None, [Finding("workflows", "fail", f"{settings.workflows!r} does not load: {exc}")]
    found = [Finding("workflows", "ok", f"{len(catalog)} from {settings.workflows!r}: {', '.join(sorted(catalog))}")]
    for name, workflow in sorted(catalog.items()):
        if workflow.policy is None:
            continue
        try:
            policy = workflow.policy.load(settings.policy_dir)
        except (StewardError, OSError, ValueError) as exc:
            found.append(Finding(f"policy {name}", "fail", str(exc)))
        else:
            found.append(Finding(f"policy {name}", "ok", f"version {policy.version}, {len(policy.allowlist)} tools"))
    return catalog, found


async def models(settings: Settings, *, timeout_s: float = 5.0) -> list[Finding]:
    """Each tier's provider; each distinct OpenAI-compatible endpoint is asked ``GET /models`` once."""
    found: list[Finding] = []
    remote = sorted(
        {settings.model_for_tier(t) for t in MODEL_TIERS if settings.model_for_tier(t).startswith("openai:")}
    )
    for tier in MODEL_TIERS:
        provider = settings.model_for_tier(tier)
        if not provider.startswith("openai:"):
            found.append(Finding(f"model {tier}", "ok", f"{provider} (in process, offline)"))
    if not remote:
        return found
    base = (settings.openai_base_url or "https://api.openai.com/v1").rstrip("/")
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            answer = await client.get(f"{base}/models", headers=headers)
    except httpx.HTTPError as exc:
        problem = f"{type(exc).__name__}: {exc}".rstrip(": ")
        return [*found, Finding("models", "fail", f"{', '.join(remote)} at {base}: unreachable ({problem})")]
    if answer.status_code in (401, 403):
        return [*found, Finding("models", "fail", f"{base} refused the key (HTTP {answer.status_code})")]
    if answer.status_code >= 400:
        return [*found, Finding("models", "warn", f"{base}/models answered HTTP {answer.status_code}")]
    try:
        listing = answer.json()
    except ValueError:
        return [*found, Finding("models", "warn", f"{base}/models answered something other than JSON")]
    data = listing.get("data", []) if isinstance(listing, dict) else []
    served = {m.get("id") for m in data if isinstance(m, dict)}
    for provider in remote:
        name = provider.removeprefix("openai:")
        listed = not served or name in served
        level: Level = "ok" if listed else "warn"
        found.append(Finding(f"model {name}", level, f"at {base}" + ("" if listed else ", which does not list it")))
    return found


async def database_and_keys(settings: Settings, catalog: Catalog) -> list[Finding]:
    """Connect and migrate as ``steward serve`` does; then the role in use and the keys."""
    try:
        async with Services.open(settings, catalog=catalog, listen=True) as services:
            listener = services.notifier
            async with services.pool.connection() as conn:
                row = await one(
                    await conn.execute(
                        "SELECT current_user AS role, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
                        " AS superuser, (SELECT max(version) FROM steward.schema_migrations) AS version"
                    )
                )
                keys = await (
                    await conn.execute(
                        "SELECT tenant, count(*) AS n FROM steward.api_keys WHERE revoked_at IS NULL GROUP BY tenant"
                    )
                ).fetchall()
    except (db.DatabaseUnavailable, StewardError) as exc:
        return [Finding("database", "fail", str(exc))]
    where = (
        "embedded PostgreSQL"
        if settings.database_url is None
        else f"PostgreSQL at {db.describe(services.database_url)}"
    )
    found = [Finding("database", "ok", f"{where}, schema version {row['version']}")]
    if row["superuser"]:
        found.append(
            Finding(
                "database role",
                "warn",
                f"the service runs as superuser {row['role']!r}: the audit log is not"
                " protected from it; set STEWARD_SERVICE_DATABASE_URL or let Steward create its role",
            )
        )
    else:
        found.append(Finding("database role", "ok", f"the service runs as {row['role']!r} (not a superuser)"))
    if isinstance(listener, Notifier):  # Services.open(listen=True) made one
        if listener.pushes:
            heard = f"LISTEN at {db.describe(listener.url)} hears its own test notification"
            found.append(Finding("notifications", "ok", heard))
        else:
            found.append(Finding("notifications", "warn", listener.unheard()))
    if settings.auth_disabled:
        found.append(Finding("keys", "warn", "STEWARD_AUTH_DISABLED: the API answers anyone"))
    elif not keys:
        found.append(Finding("keys", "warn", "no API keys: `steward keys create --tenant T --role runner` makes one"))
    else:
        per_tenant = ", ".join(f"{k['tenant']} {k['n']}" for k in keys)
        found.append(Finding("keys", "ok", f"active keys per tenant: {per_tenant}"))
    return found


async def examine(settings: Settings) -> list[Finding]:
    """Every check's findings, in order."""
    catalog, found = workflows_and_policies(settings)
    found += await models(settings)
    if catalog is None or any(f.level == "fail" for f in found if f.check.startswith("policy")):
        found.append(Finding("database", "warn", "not checked: start-up loads the workflows and policies first"))
    else:
        found += await database_and_keys(settings, catalog)
    return found


def run(settings: Settings) -> list[Finding]:
    return asyncio.run(examine(settings))
