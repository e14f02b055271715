"""API keys: hashed at rest, bound to a tenant and roles; the first start creates one admin key."""

from __future__ import annotations

import json

import pytest

from server.deps import authenticate
from steward import keys
from steward.cli import main
from steward.errors import Forbidden, InvalidRequest, Unauthorized


async def test_keys_are_stored_hashed_and_resolve_to_their_principal(services, tenant):
    key = await keys.create_key(services.pool, tenant=tenant, roles=["runner", "approver"], name="ops-bot")
    async with services.pool.connection() as conn:
        stored = await (await conn.execute("SELECT * FROM steward.api_keys WHERE name = 'ops-bot'")).fetchone()
    assert key not in json.dumps(stored, default=str) and stored["key_hash"] == keys.hash_key(key)
    principal = await keys.lookup(services.pool, key)
    assert (principal.tenant, principal.identity, principal.roles) == (tenant, "ops-bot", {"runner", "approver"})
    principal.require("approver")
    with pytest.raises(Forbidden):
        principal.require("admin")
    with pytest.raises(InvalidRequest):
        await keys.create_key(services.pool, tenant=tenant, roles=["superuser"])
    assert await keys.lookup(services.pool, key + "x") is None


async def test_first_admin_key_is_created_once(fresh_services):
    first = await keys.ensure_admin_key(fresh_services.pool)  # a database without keys: one is made
    assert first is not None and (await keys.lookup(fresh_services.pool, first)).roles == {"admin"}
    assert await keys.ensure_admin_key(fresh_services.pool) is None  # and only once


class FakeRequest:
    def __init__(self, services):
        self.app = type("App", (), {"state": type("State", (), {"key_cache": {}, "services": services})()})()


async def test_auth_is_off_only_when_configured(services):
    with pytest.raises(Unauthorized, match="x-api-key"):
        await authenticate(FakeRequest(services), services, None)
    relaxed = services.__class__(
        **{**services.__dict__, "settings": services.settings.model_copy(update={"auth_disabled": True})}
    )
    principal = await authenticate(FakeRequest(relaxed), relaxed, None)
    assert principal.roles == {"admin"} and principal.tenant == "default"


def test_keys_create_cli_prints_the_key_once(cli_env, monkeypatch, capsys, services, tenant):
    for name, value in cli_env.items():
        if name.startswith("STEWARD_"):
            monkeypatch.setenv(name, value)
    assert main(["keys", "create", "--tenant", tenant, "--role", "approver", "--name", "maria"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["key"].startswith("stw_") and (out["tenant"], out["roles"], out["name"]) == (
        tenant,
        ["approver"],
        "maria",
    )
    with pytest.raises(SystemExit) as exit_:
        main(["keys", "create", "--tenant", tenant, "--role", "root"])
    assert exit_.value.code == 2
