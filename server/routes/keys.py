"""API keys of the caller's tenant, for admins: list, create (the secret is shown once), revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from server.deps import PrincipalDep, ServicesDep
from server.schemas import KeyCreate
from steward import keys

router = APIRouter(prefix="/keys", tags=["governance"])


@router.get("/me")
async def whoami(caller: PrincipalDep) -> dict[str, Any]:
    """The caller behind the key: tenant, identity and roles (what a console shows and hides by)."""
    return {"tenant": caller.tenant, "identity": caller.identity, "roles": sorted(caller.roles)}


@router.get("")
async def list_keys(services: ServicesDep, caller: PrincipalDep) -> list[dict[str, Any]]:
    """The tenant's keys: name, prefix, roles, created and revoked times (never the secrets)."""
    caller.require("admin")
    return await keys.list_keys(services.pool, caller.tenant)


@router.post("", status_code=201)
async def create_key(body: KeyCreate, services: ServicesDep, caller: PrincipalDep) -> dict[str, Any]:
    """A new key for the caller's tenant; its secret is in this answer only."""
    caller.require("admin")
    secret = await keys.create_key(services.pool, tenant=caller.tenant, roles=list(body.roles), name=body.name)
    principal = await keys.lookup(services.pool, secret)
    return {"key": secret, "name": principal.identity if principal else body.name, "roles": sorted(body.roles)}


@router.delete("/{name_or_prefix}")
async def revoke_key(name_or_prefix: str, services: ServicesDep, caller: PrincipalDep) -> dict[str, Any]:
    """Revoke a key of the tenant by name or prefix; every server refuses it within a second."""
    caller.require("admin")
    return {"revoked": await keys.revoke(services.pool, name_or_prefix, caller.tenant)}
