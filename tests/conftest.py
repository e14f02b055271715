"""Fixtures: one throwaway database per test run, on the URL in STEWARD_TEST_DATABASE_URL (CI) or on the
embedded PostgreSQL under .steward/ (a fresh machine). Tests isolate from each other by tenant."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from steward import db, sandbox
from steward.services import Services
from steward.settings import Settings
from tests.seeds import refund_seed

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
    return Settings(_env_file=None, database_url=database_url, data_dir=tmp_path_factory.mktemp("data"),
                    model_small="rules", model_medium="rules", model_large="rules")


@pytest.fixture(scope="session")
async def services(settings: Settings):
    async with Services.open(settings) as opened:
        yield opened


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def seeded(services: Services, tenant: str) -> str:
    """A tenant loaded with the refund seed (and a neighbour tenant owning INV-OTHER)."""
    await sandbox.load(services.pool, sandbox.parse_seed(refund_seed(tenant)))
    return tenant


@pytest.fixture
def cli_env(database_url: str) -> dict[str, str]:
    """Environment for `steward` subprocesses pointing at the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    return {**env, "STEWARD_DATABASE_URL": database_url}
