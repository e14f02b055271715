"""A newcomer's first hour: the first start prints keys for a tenant with demo data, and the quick start script
(the README's snippet) runs against it to the end."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

from steward import db
from tests.processes import PROJECT, start_server


def test_first_start_prints_keys_and_the_quickstart_runs_end_to_end(server_url, cli_env, tmp_path: Path):
    name = f"steward_first_{uuid.uuid4().hex[:8]}"
    db.create_database(server_url, name, exist_ok=False)
    env = {**cli_env, "STEWARD_DATABASE_URL": db.with_database(server_url, name)}
    log = tmp_path / "serve.log"
    process, url = start_server(env, log, STEWARD_WORKERS="1")
    try:
        printed = log.read_text()
        runner = re.search(r"runner:\s+(stw_\S+)", printed)[1]
        approver = re.search(r"approver:\s+(stw_\S+)", printed)[1]
        assert "admin of tenant 'default'" in printed and "tenant 'quickstart'" in printed
        script = subprocess.run(
            [sys.executable, str(PROJECT / "examples" / "quickstart.py")],
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, "STEWARD_URL": url, "STEWARD_RUNNER_KEY": runner, "STEWARD_APPROVER_KEY": approver},
        )
        assert script.returncode == 0, script.stderr
        out = script.stdout
        assert "waiting for approval: Refund 120.00 USD on INV-2002" in out
        assert '"status": "completed"' in out and '"amount_usd": "120.00"' in out
        assert re.search(r"approval\s+approval\s+create_refund\s+approve .* by quickstart-approver", out)
        logged = log.read_text()  # the access log: method, path, status, latency, tenant, key name
        assert re.search(
            r"steward\.access GET /approvals 200 [\d.]+ms tenant=quickstart key=quickstart-approver", logged
        ), logged[-2000:]
    finally:
        process.stop()
    second, _ = start_server(env, tmp_path / "again.log", STEWARD_WORKERS="1")
    second.stop()
    assert "stw_" not in (tmp_path / "again.log").read_text()  # keys are printed on the first start only
    db.drop_database(server_url, name)


def test_a_second_server_on_a_busy_port_fails_fast_with_a_hint(server, cli_env):
    port = server.rsplit(":", 1)[1]
    started = subprocess.run(
        [sys.executable, "-m", "steward.cli", "serve", "--port", port],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in started.stderr and "--port" in started.stderr
    assert "serving on" not in started.stderr


def test_db_status_says_where_the_database_is(cli_env):
    external = subprocess.run(
        [sys.executable, "-m", "steward.cli", "db", "status"], env=cli_env, capture_output=True, text=True, timeout=60
    )
    assert external.returncode == 0 and "external PostgreSQL" in external.stdout
    embedded_env = {k: v for k, v in cli_env.items() if k not in ("STEWARD_DATABASE_URL", "DATABASE_URL")}
    embedded = subprocess.run(
        [sys.executable, "-m", "steward.cli", "db", "status"],
        env=embedded_env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT,
    )
    assert embedded.returncode == 0 and "embedded PostgreSQL in" in embedded.stdout


async def test_an_approval_may_be_sent_flat(sdk, seeded, server, api_keys):
    import httpx

    runner = sdk("runner")
    thread = await runner.threads.create()
    await runner.runs.wait(thread["thread_id"], "refund", input={"ticket_id": "T-BIG"})
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["approver"]}) as http:
        both = await http.post(f"/approvals/{thread['thread_id']}", json={"type": "approve", "decision": {}})
        assert both.status_code == 422 and "send one of" in both.json()["detail"]
        done = await http.post(f"/approvals/{thread['thread_id']}", json={"type": "approve", "comment": "ok"})
    assert done.status_code == 200 and done.json()["status"] == "completed"
