"""Webhook endpoints of the caller's tenant, for admins: register, list (with the signing secret), remove,
rotate the secret, and see recent deliveries (see :mod:`steward.webhooks`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from server.deps import PrincipalDep, ServicesDep
from server.schemas import Limit, WebhookCreate
from steward import webhooks

router = APIRouter(prefix="/webhooks", tags=["governance"])


@router.post("", status_code=201)
async def register(body: WebhookCreate, services: ServicesDep, caller: PrincipalDep) -> dict[str, Any]:
    """Send the tenant's ``events`` to ``url`` (at least once, retried, signed with the tenant's secret)."""
    caller.require("admin")
    endpoint = await webhooks.register(services.pool, caller.tenant, body.url, list(body.events), caller.identity)
    return {
        **endpoint.model_dump(mode="json"),
        "signing_secret": await webhooks.signing_secret(services.pool, caller.tenant),
    }


@router.get("")
async def list_endpoints(services: ServicesDep, caller: PrincipalDep) -> dict[str, Any]:
    """The tenant's endpoints and the secret that signs every delivery (``x-steward-signature``)."""
    caller.require("admin")
    return {
        "endpoints": [e.model_dump(mode="json") for e in await webhooks.endpoints(services.pool, caller.tenant)],
        "signing_secret": await webhooks.signing_secret(services.pool, caller.tenant),
    }


@router.delete("/{endpoint_id}", status_code=204)
async def remove(endpoint_id: int, services: ServicesDep, caller: PrincipalDep) -> None:
    caller.require("admin")
    await webhooks.remove(services.pool, caller.tenant, endpoint_id)


@router.post("/signing-secret")
async def rotate(services: ServicesDep, caller: PrincipalDep) -> dict[str, str]:
    """A new signing secret; deliveries from now on are signed with it."""
    caller.require("admin")
    return {"signing_secret": await webhooks.signing_secret(services.pool, caller.tenant, rotate=True)}


@router.get("/deliveries")
async def deliveries(services: ServicesDep, caller: PrincipalDep, limit: Limit = 50) -> list[dict[str, Any]]:
    """The tenant's latest deliveries, newest first: event, URL, attempts, delivered or failed, last error."""
    caller.require("admin")
    return [d.model_dump(mode="json") for d in await webhooks.deliveries(services.pool, caller.tenant, limit)]
