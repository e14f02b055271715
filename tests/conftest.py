"""Fixtures: one throwaway database per test run, on the URL in STEWARD_TEST_DATABASE_URL (CI) or on the
embedded PostgreSQL under .steward/ (a fresh machine). Tests isolate from each other by tenant."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from langgraph_sdk import get_client

from steward import db, keys
from steward.cli import main
from steward.services import Services
from steward.settings import Settings
from tests.processes import start_server
from tests.seeds import load_seed, refund_seed

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def server_url() -> str:
    return os.environ.get("STEWARD_TEST_DATABASE_URL") or db.start_embedded_postgres(PROJECT / ".steward")


@pytest.fixture(scope="session")
def database_url(server_url: str):
    name = f"steward_test_{uuid.uuid4().hex[:12]}"
    db.create_database(server_url, name, exist_ok=False)
    yield db.with_database(server_url, name)
    db.drop_database(server_url, name)


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("data"),
        model_small="rules",
        model_medium="rules",
        model_large="rules",
    )


@pytest.fixture(scope="session")
async def services(settings: Settings):
    async with Services.open(settings) as opened:
        yield opened


@pytest.fixture
async def fresh_services(server_url: str, settings: Settings):
    """Services on a database of the test's own (for what the session's shared database and served instance
    would disturb: queue order, a first start)."""
    name = f"steward_own_{uuid.uuid4().hex[:8]}"
    db.create_database(server_url, name, exist_ok=False)
    try:
        url = db.with_database(server_url, name)
        async with Services.open(settings.model_copy(update={"database_url": url}), listen=True) as opened:
            yield opened
    finally:
        db.drop_database(server_url, name)


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def seeded(services: Services, tenant: str) -> str:
    """A tenant loaded with the refund seed (and a neighbour tenant owning INV-OTHER)."""
    await load_seed(services, refund_seed(tenant))
    return tenant


@pytest.fixture
def cli_env(cli_env_session: dict[str, str]) -> dict[str, str]:
    """Environment for `steward` subprocesses pointing at the test database (a copy a test may change)."""
    return dict(cli_env_session)


@pytest.fixture
def cli(cli_env, monkeypatch, services):  # services: the schema exists
    """``steward`` in this process, on the test database (sync tests only: it runs its own event loop)."""
    for key, value in cli_env.items():
        if key.startswith("STEWARD_"):
            monkeypatch.setenv(key, value)
    return main


@pytest.fixture(scope="session")
def server(cli_env_session: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    """A real `steward serve` (uvicorn, in-process workers) on the test database."""
    process, url = start_server(
        cli_env_session, tmp_path_factory.mktemp("server") / "server.log", STEWARD_WORKERS="2", STEWARD_RUN_LEASE_S="5"
    )
    yield url
    process.stop()


@pytest.fixture(scope="session")
def cli_env_session(database_url: str) -> dict[str, str]:
    """The process environment without the caller's ``STEWARD_`` settings, pointing at the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    return {**env, "STEWARD_DATABASE_URL": database_url}


@pytest.fixture
async def api_keys(services: Services, tenant: str) -> dict[str, str]:
    """One key per role for the test's tenant (approver2: a second approver)."""
    made = {}
    for name, roles in {
        "runner": ["runner"],
        "approver": ["approver"],
        "approver2": ["approver"],
        "admin": ["admin"],
    }.items():
        made[name] = await keys.create_key(services.pool, tenant=tenant, roles=roles, name=f"{tenant}-{name}")
    return made


@pytest.fixture
async def sdk(server: str, api_keys: dict[str, str]):
    """``sdk("runner")``: the official langgraph-sdk client acting with that role's key."""
    opened = []

    def client(role: str = "runner"):
        opened.append(get_client(url=server, api_key=api_keys[role]))
        return opened[-1]

    yield client
    for each in opened:
        await each.aclose()


E2E_FIXTURES = {"server", "sdk", "cli_env", "cli_env_session", "project"}
"""Fixtures that start ``steward`` processes (or need them)."""
DATABASE_FIXTURES = {"services", "database_url", "server_url", "settings", "seeded", "tenant", "api_keys"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by what it needs: ``e2e`` (served processes), ``integration`` (Postgres) or ``unit``
    (neither), so ``make test-unit`` runs in seconds. A marker set by hand wins."""
    for item in items:
        if any(item.get_closest_marker(name) for name in ("unit", "integration", "e2e")):
            continue
        needs = set(getattr(item, "fixturenames", ()))
        item.add_marker("e2e" if needs & E2E_FIXTURES else "integration" if needs & DATABASE_FIXTURES else "unit")
