"""Steward through PgBouncer in transaction mode (Debian's pgbouncer, which ``.ci/run`` installs).

The service's pool goes through PgBouncer; what needs a session stays direct: migrations (as the owner, with
their advisory lock) and the LISTEN connection. Debian's PgBouncer (1.18) cannot keep prepared statements in
transaction mode, so the service runs with ``prepared_statements`` off.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from steward import doctor, operations, threads
from steward.services import Services
from steward.serving import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


@pytest.fixture
def pgbouncer(database_url: str, services: Services):  # services: the service role exists
    """A PgBouncer in transaction mode in front of the test database; yields the service role's URL through it."""
    if not os.path.exists(PGBOUNCER):
        pytest.skip("pgbouncer is not installed (.ci/run installs Debian's pgbouncer)")
    target = conninfo_to_dict(database_url)
    port = free_port()
    home = Path(tempfile.mkdtemp(prefix="steward-pgbouncer-"))  # outside pytest's root-only tmp: see below
    home.chmod(0o777)  # PgBouncer refuses to run as root: started as root, it drops to another user (below)
    (home / "users.txt").write_text('"postgres" ""\n"steward_app" ""\n')
    (home / "pgbouncer.ini").write_text(
        f"""[databases]
{target["dbname"]} = host={target.get("host", "127.0.0.1")} port={target.get("port", 5432)} dbname={target["dbname"]}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {home}/users.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
ignore_startup_parameters = extra_float_digits
logfile = {home}/pgbouncer.log
pidfile = {home}/pgbouncer.pid
"""
    )
    for name in ("users.txt", "pgbouncer.ini"):
        (home / name).chmod(0o644)
    # as root it must drop to a user: the one that may reach the server's socket directory (the embedded server's
    # is its own), else postgres
    host = str(target.get("host", ""))
    user = pwd.getpwuid(os.stat(host).st_uid).pw_name if host.startswith("/") else "postgres"
    command = [PGBOUNCER, str(home / "pgbouncer.ini")] + (["-u", user] if os.geteuid() == 0 else [])
    with (home / "stderr.log").open("w") as stderr:
        proc = subprocess.Popen(command, stdout=stderr, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                logs = [home / "stderr.log", home / "pgbouncer.log"]
                said = "".join(log.read_text() for log in logs if log.exists())
                raise RuntimeError(f"pgbouncer did not start: {said[-2000:]}") from None
            time.sleep(0.1)
    yield make_conninfo(database_url, host="127.0.0.1", port=port, user="steward_app", password="")
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(home, ignore_errors=True)


async def test_runs_approvals_and_wakeups_work_through_pgbouncer(pgbouncer, settings, seeded, database_url):
    through = settings.model_copy(
        update={
            "service_database_url": pgbouncer,
            "prepared_statements": False,
            "listen_database_url": make_conninfo(database_url, user="steward_app", password=""),
            "pool_max_size": 8,
        }
    )
    async with Services.open(through, listen=True) as svc:
        assert conninfo_to_dict(svc.database_url)["port"] == conninfo_to_dict(pgbouncer)["port"]
        assert svc.notifier.pushes  # the LISTEN connection is direct

        # many runs at once: the same statements repeat on every pooled connection (psycopg would prepare them by
        # the fifth) and transactions of different runs interleave on PgBouncer's four server connections
        pings = await asyncio.gather(
            *(operations.start_run(svc, "ping", {"n": n}, tenant=seeded, user="ada") for n in range(40))
        )
        assert {p.status for p in pings} == {"completed"}

        auto = await operations.start_run(svc, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")
        assert auto.status == "completed"
        paused = await operations.start_run(svc, "refund", {"ticket_id": "T-BIG"}, tenant=seeded, user="ada")
        assert paused.status == "interrupted"
        approve = {"decisions": [{"type": "approve"}]}
        done = await operations.resume_run(svc, paused.thread_id, approve, tenant=seeded, user="maria")
        assert done.status == "completed"
        state = await svc.graph("refund").aget_state(threads.checkpoint_config(seeded, done.thread_id))
        assert str(state.values["refund"]["amount_usd"]) == "120.00"


async def test_a_listener_behind_the_pooler_hears_nothing_so_it_warns_and_joins_poll(
    pgbouncer, settings, seeded, caplog
):
    """LISTEN through PgBouncer in transaction mode hears no notification. The listener finds that out when it
    starts (its own test notification never arrives), says how to fix it, and joins re-read their run every second
    rather than waiting for wake-ups that never come."""
    from steward import runs
    from steward.executor import wait_until_done, worker_id
    from steward.notify import SAFETY_RECHECK_S

    through = settings.model_copy(
        update={"service_database_url": pgbouncer, "prepared_statements": False, "pool_max_size": 4}
    )
    with caplog.at_level(logging.WARNING, logger="steward.notify"):
        async with Services.open(through, listen=True) as svc:
            assert not svc.notifier.pushes
            thread = await threads.create(svc.pool, tenant=seeded, created_by="ada", workflow="ping")
            worker = worker_id()
            run = await runs.submit(
                svc.pool,
                thread_id=thread.thread_id,
                tenant=seeded,
                user="ada",
                workflow="ping",
                payload={"input": {"n": 1}},
                worker=worker,
                lease_s=svc.settings.run_lease_s,
            )
            joined = asyncio.create_task(wait_until_done(svc, run, svc.notifier))
            await operations.run_inline(svc, run, worker)
            ended = await asyncio.wait_for(joined, SAFETY_RECHECK_S / 2)
    assert ended.status == "success"
    assert "STEWARD_LISTEN_DATABASE_URL" in caplog.text
    found = {f.check: f for f in await doctor.examine(through)}
    assert found["notifications"].level == "warn" and "STEWARD_LISTEN_DATABASE_URL" in found["notifications"].detail
