"""Request dependencies: the process's services and the authenticated caller."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from steward import keys
from steward.errors import Unauthorized
from steward.keys import Principal
from steward.services import Services

ANONYMOUS_ADMIN = Principal(tenant="default", identity="anonymous", roles=frozenset({"admin"}))


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


API_KEY = APIKeyHeader(
    name="x-api-key",
    auto_error=False,
    scheme_name="APIKey",
    description="A Steward API key (`steward keys create`), sent as the x-api-key header",
)


async def authenticate(
    request: Request, services: ServicesDep, x_api_key: Annotated[str | None, Security(API_KEY)] = None
) -> Principal:
    """The caller behind ``x-api-key`` (the header the langgraph-sdk client sends); cached briefly."""
    if services.settings.auth_disabled:
        return ANONYMOUS_ADMIN
    if not x_api_key:
        raise Unauthorized("send an API key in the x-api-key header (create one with: steward keys create)")
    cache: dict[str, tuple[float, Principal]] = request.app.state.key_cache
    hashed = keys.hash_key(x_api_key)
    cached = cache.get(hashed)
    if cached and cached[0] > time.monotonic():
        request.state.principal = cached[1]
        return cached[1]
    principal = await keys.lookup(services.pool, x_api_key)
    if principal is None:
        raise Unauthorized("unknown or revoked API key")
    cache[hashed] = (time.monotonic() + keys.KEY_CACHE_S, principal)
    request.state.principal = principal  # for the access log
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]
