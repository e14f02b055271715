"""Notifications, delivered at least once from a Postgres outbox.

* A run's ``webhook`` (as LangGraph Server has it): when the run ends, its record is POSTed there.
* A tenant's endpoints (``POST /webhooks``) receive the events they subscribe to: ``run.ended``,
  ``approval.requested``, ``escalation.opened`` and ``kill_switch.changed``.

Events are written to ``steward.outbox`` in the same statement or transaction as what caused them (a run's end, a
switch change), so none is lost and none is sent for something that did not happen. Workers deliver due rows
(``FOR UPDATE SKIP LOCKED``, so each attempt is made by one process), retrying with exponential backoff up to
:data:`MAX_ATTEMPTS`. Each delivery carries ``x-steward-delivery`` (the outbox id: the same on every retry, for
de-duplication), ``x-steward-event`` and ``x-steward-signature: sha256=<hex>``, an HMAC-SHA256 of the exact body
with the tenant's signing secret (``GET /webhooks`` shows it to the tenant's admins;
``POST /webhooks/signing-secret`` rotates it).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
from datetime import datetime
from typing import Any, Literal

import httpx
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from steward.errors import NotFound
from steward.pool import Conn, Pool, one, trusted

log = logging.getLogger(__name__)
Event = Literal["run.ended", "approval.requested", "escalation.opened", "kill_switch.changed"]
EVENTS: tuple[str, ...] = ("run.ended", "approval.requested", "escalation.opened", "kill_switch.changed")
MAX_ATTEMPTS = 8
"""Then the delivery is marked failed (backoff 2, 4, ... 128 s: about four minutes in all)."""
TIMEOUT_S = 5.0
BATCH = 20


class Endpoint(BaseModel):
    id: int
    url: str
    events: list[str]
    created_by: str
    created_at: datetime


class Delivery(BaseModel):
    id: int
    event: str
    url: str
    attempts: int
    delivered_at: datetime | None
    failed_at: datetime | None
    last_error: str | None
    created_at: datetime


def sign(secret: str, body: bytes) -> str:
    """The ``x-steward-signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def signing_secret(pool: Pool, tenant: str, *, rotate: bool = False) -> str:
    """The tenant's signing secret (created on first use; ``rotate`` replaces it)."""
    fresh = "whsec_" + secrets.token_urlsafe(32)
    async with pool.connection() as conn:
        keep = "EXCLUDED.secret" if rotate else "webhook_secrets.secret"
        cur = await conn.execute(
            trusted(
                "INSERT INTO steward.webhook_secrets (tenant, secret) VALUES (%s, %s) ON CONFLICT (tenant) DO UPDATE"
                f" SET secret = {keep} RETURNING secret"
            ),
            (tenant, fresh),
        )
        return (await one(cur))["secret"]


async def register(pool: Pool, tenant: str, url: str, events: list[str], by: str) -> Endpoint:
    await signing_secret(pool, tenant)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO steward.webhooks (tenant, url, events, created_by) VALUES (%s, %s, %s, %s)"
            " RETURNING id, url, events, created_by, created_at",
            (tenant, url, sorted(set(events)), by),
        )
        return Endpoint.model_validate(await cur.fetchone())


async def endpoints(pool: Pool, tenant: str) -> list[Endpoint]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, url, events, created_by, created_at FROM steward.webhooks WHERE tenant = %s ORDER BY id",
            (tenant,),
        )
        return [Endpoint.model_validate(row) for row in await cur.fetchall()]


async def remove(pool: Pool, tenant: str, endpoint_id: int) -> None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM steward.webhooks WHERE id = %s AND tenant = %s RETURNING id", (endpoint_id, tenant)
        )
        if await cur.fetchone() is None:
            raise NotFound(f"no webhook endpoint {endpoint_id} in tenant {tenant!r}")


async def deliveries(pool: Pool, tenant: str, limit: int = 50) -> list[Delivery]:
    """The tenant's latest deliveries, newest first."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, event, url, attempts, delivered_at, failed_at, last_error, created_at FROM steward.outbox"
            " WHERE tenant = %s ORDER BY id DESC LIMIT %s",
            (tenant, limit),
        )
        return [Delivery.model_validate(row) for row in await cur.fetchall()]


ENQUEUE_FOR_ENDPOINTS = """
INSERT INTO steward.outbox (tenant, event, url, payload)
SELECT w.tenant, %(event)s, w.url, %(payload)s FROM steward.webhooks w
 WHERE (w.tenant = %(tenant)s OR %(tenant)s = '*') AND %(event)s = ANY(w.events)
"""
"""Queue ``event`` for every endpoint of ``tenant`` (``*``: of every tenant) that subscribes to it."""


async def enqueue(conn: Conn, tenant: str, event: Event, payload: dict[str, Any]) -> None:
    """Queue an event for the tenant's endpoints, in the caller's transaction."""
    await conn.execute(ENQUEUE_FOR_ENDPOINTS, {"tenant": tenant, "event": event, "payload": Jsonb(payload)})


_DUE = """
UPDATE steward.outbox o SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => %(lease)s)
  FROM (SELECT id FROM steward.outbox
         WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
         ORDER BY id LIMIT %(batch)s FOR UPDATE SKIP LOCKED) due
 WHERE o.id = due.id
RETURNING o.id, o.tenant, o.event, o.url, o.payload, o.attempts,
          (SELECT secret FROM steward.webhook_secrets s WHERE s.tenant = o.tenant) AS secret
"""


async def deliver_due(pool: Pool, client: httpx.AsyncClient) -> int:
    """Attempt every due delivery once (in parallel); returns how many were attempted."""
    async with pool.connection() as conn:
        due = await (await conn.execute(_DUE, {"lease": TIMEOUT_S * 6, "batch": BATCH})).fetchall()
    if due:
        await asyncio.gather(*(_attempt(pool, client, row) for row in due))
    return len(due)


async def _attempt(pool: Pool, client: httpx.AsyncClient, row: dict[str, Any]) -> None:
    body = json.dumps(row["payload"], separators=(",", ":"), default=str).encode()
    headers = {
        "content-type": "application/json",
        "user-agent": "steward-webhooks",
        "x-steward-delivery": str(row["id"]),
        "x-steward-event": row["event"],
        "x-steward-signature": sign(row["secret"] or "", body),
    }
    error = None
    try:
        response = await client.post(row["url"], content=body, headers=headers, timeout=TIMEOUT_S)
        if response.status_code >= 300:
            error = f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    async with pool.connection() as conn:
        if error is None:
            await conn.execute(
                "UPDATE steward.outbox SET delivered_at = now(), last_error = NULL WHERE id = %s", (row["id"],)
            )
        elif row["attempts"] >= MAX_ATTEMPTS:
            log.warning("webhook %s to %s failed for good: %s", row["id"], row["url"], error)
            await conn.execute(
                "UPDATE steward.outbox SET failed_at = now(), last_error = %s WHERE id = %s", (error, row["id"])
            )
        else:
            await conn.execute(
                "UPDATE steward.outbox SET last_error = %s, next_attempt_at = now() + make_interval(secs => %s)"
                " WHERE id = %s",
                (error, 2 ** row["attempts"], row["id"]),
            )
