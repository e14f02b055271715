"""The edge refuses what would otherwise reach Postgres as a 500, keys are revoked everywhere within a second,
and free text in the audit trail is redacted."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

import httpx
import psycopg
import pytest

from steward import audit, operations

pytestmark = pytest.mark.usefixtures("seeded")


@pytest.fixture
async def admin(server, api_keys):
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["admin"]}) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("post", "/threads", b'{"metadata": {"note": "a\\u0000b"}}', 422, "body.metadata.note: NUL characters"),
        ("post", "/threads", b'{"thread_id": "x\\u0000"}', 422, "NUL characters"),
        ("post", "/threads", b'{"metadata": {"k": "\\ud800"}}', 422, "malformed JSON body"),
        ("post", "/threads/search", b'{"metadata": {"\\u0000": 1}}', 422, "NUL characters"),
        ("get", "/threads/abc%00def", None, 422, "NUL characters are not allowed in paths"),
        ("get", "/approvals?limit=-1", None, 422, "limit"),
        ("get", "/approvals?limit=100000000", None, 422, "limit"),
        ("get", "/approvals?offset=-5", None, 422, "offset"),
        ("post", "/threads/search", {"limit": 5000}, 422, "limit"),
        ("post", "/threads", {"metadata": {"blob": "x" * 70_000}}, 422, "metadata over 65536 bytes"),
        ("post", "/threads", b'{"metadata": {"blob": "' + b"x" * 1_100_000 + b'"}}', 413, "request body over"),
    ],
)
async def test_hostile_inputs_get_4xx_never_500(admin, method, path, body, status, message):
    content = body if isinstance(body, bytes) else None
    response = await admin.request(
        method.upper(), path, content=content, json=body if not isinstance(body, bytes) and body is not None else None
    )
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


async def test_a_revoked_key_is_refused_within_a_second(server, api_keys):
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["admin"]}) as admin:
        made = (await admin.post("/keys", json={"roles": ["runner"], "name": "short-lived"})).json()
        async with httpx.AsyncClient(base_url=server, headers={"x-api-key": made["key"]}) as short:
            assert (await short.post("/threads/search", json={})).status_code == 200  # now cached
            listed = (await admin.get("/keys")).json()
            assert "short-lived" in [k["name"] for k in listed] and all("key" not in k for k in listed)
            assert (await admin.delete("/keys/short-lived")).json()["revoked"]["name"] == "short-lived"
            await asyncio.sleep(1.1)
            assert (await short.post("/threads/search", json={})).status_code == 401
        assert (await admin.delete("/keys/short-lived")).status_code == 404


async def test_keys_list_and_revoke_from_the_cli(cli_env, tenant, services):
    from steward import keys

    await keys.create_key(services.pool, tenant=tenant, roles=["approver"], name=f"{tenant}-cli-key")
    env = {**cli_env}
    listed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "steward.cli",
        "keys",
        "list",
        "--tenant",
        tenant,
        "--json",
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    assert f"{tenant}-cli-key".encode() in (await listed.communicate())[0]
    revoke = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "steward.cli",
        "keys",
        "revoke",
        f"{tenant}-cli-key",
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    await revoke.communicate()
    assert revoke.returncode == 0
    rows = await keys.list_keys(services.pool, tenant)
    assert [r["revoked_at"] is not None for r in rows if r["name"] == f"{tenant}-cli-key"] == [True]


async def test_every_free_text_field_is_redacted_in_the_audit_trail(services, seeded):
    started = await operations.start_run(services, "refund", {"ticket_id": "T-BIG"}, tenant=seeded, user="r")
    secret = "call bob@localhost or ada@example.com, card4111111111111111 or 4111.1111.1111.1111"
    await operations.resume_run(
        services, started.thread_id, {"decisions": [{"type": "reject", "message": secret}]}, tenant=seeded, user="maria"
    )
    text = str(await audit.events_for(services.pool, started.thread_id, seeded))
    for leaked in ("bob@localhost", "ada@example.com", "4111111111111111", "4111.1111.1111.1111"):
        assert leaked not in text
    assert "[email]" in text and "[card]" in text


async def test_stateless_streams_that_disconnect_leave_nothing_behind(server, api_keys, services, tenant):
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["runner"]}) as client:

        async def open_and_leave() -> None:
            async with client.stream("POST", "/runs/stream", json={"assistant_id": "ping", "input": {"n": 3}}) as resp:
                async for _ in resp.aiter_lines():
                    break  # the first event, then gone

        await asyncio.gather(*(open_and_leave() for _ in range(20)))
    for _ in range(50):
        async with services.pool.connection() as conn:
            left = await (
                await conn.execute("SELECT count(*) AS n FROM steward.threads WHERE tenant = %s", (tenant,))
            ).fetchone()
        if left["n"] == 0:
            break
        await asyncio.sleep(0.1)
    assert left["n"] == 0


def test_an_unreachable_database_is_503_with_retry_after_and_recovers(server_url, settings):
    from server.app import create_app
    from steward import db
    from steward.serving import serve_in_thread

    name = f"steward_down_{uuid.uuid4().hex[:8]}"
    db.create_database(server_url, name, exist_ok=False)
    url = db.with_database(server_url, name)
    app = create_app(
        settings.model_copy(
            update={"database_url": url, "workers": 0, "auth_disabled": True, "pool_timeout_s": 1.0, "pool_min_size": 1}
        )
    )
    server, base = serve_in_thread(app)
    try:
        assert httpx.post(f"{base}/threads", json={}).status_code == 200
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            down = httpx.post(f"{base}/threads", json={}, timeout=10)
            assert down.status_code == 503 and down.headers["retry-after"] == "5"
            assert "database is unreachable" in down.json()["detail"]
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        for _ in range(30):
            if (again := httpx.post(f"{base}/threads", json={}, timeout=10)).status_code == 200:
                break
            time.sleep(0.2)
        assert again.status_code == 200
    finally:
        server.should_exit = True
        time.sleep(0.5)
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        db.drop_database(server_url, name)
