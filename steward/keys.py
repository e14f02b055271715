"""API keys: random secrets stored only as SHA-256 hashes, each bound to one tenant and some roles.

Roles: ``runner`` (start runs, read its tenant's threads), ``approver`` (decide approvals), ``admin`` (all).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from steward.errors import Forbidden, InvalidRequest, NotFound
from steward.pool import Pool

KEY_CACHE_S = 1.0
"""How long a server trusts a key it looked up: a revoked key is refused everywhere within this."""
Role = Literal["runner", "approver", "admin"]
ROLES: tuple[Role, ...] = ("runner", "approver", "admin")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    tenant: str
    identity: str
    roles: frozenset[str]

    def require(self, *roles: Role) -> None:
        """Refuse unless the caller has one of ``roles`` (admins have them all)."""
        if not self.roles & {*roles, "admin"}:
            raise Forbidden(f"{self.identity} needs the {' or '.join(roles)} role for this")


LOCAL_PREFIX = "local:"
"""The identity prefix of a local operator acting from the command line (see :mod:`steward.acting`)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def mint() -> str:
    """A new secret key: ``stw_`` and 256 random bits."""
    return "stw_" + secrets.token_urlsafe(32)


async def create_key(pool: Pool, *, tenant: str, roles: list[str], name: str | None = None) -> str:
    """Store a new key and return it: the only time the secret is visible."""
    if not tenant or not roles or any(role not in ROLES for role in roles):
        raise InvalidRequest(f"a key needs a tenant and roles among {', '.join(ROLES)}; got {roles}")
    if name is not None and name.startswith(LOCAL_PREFIX):
        raise InvalidRequest(f"key names may not start with {LOCAL_PREFIX!r}: that marks a local operator's acts")
    key = mint()
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO steward.api_keys (key_hash, prefix, name, tenant, roles) VALUES (%s, %s, %s, %s, %s)",
            (
                hash_key(key),
                key[:10],
                name or f"{tenant}-{'-'.join(sorted(set(roles)))}-{key[4:10]}",
                tenant,
                sorted(set(roles)),
            ),
        )
    return key


async def lookup(pool: Pool, key: str) -> Principal | None:
    """The principal of a key that exists and is not revoked."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT name, tenant, roles FROM steward.api_keys WHERE key_hash = %s AND revoked_at IS NULL",
            (hash_key(key),),
        )
        row = await cur.fetchone()
    return Principal(tenant=row["tenant"], identity=row["name"], roles=frozenset(row["roles"])) if row else None


async def list_keys(pool: Pool, tenant: str | None = None) -> list[dict[str, Any]]:
    """Keys (never their secrets) of one tenant, or of all: name, prefix, tenant, roles, created, revoked."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT name, prefix, tenant, roles, created_at, revoked_at FROM steward.api_keys"
            " WHERE %(tenant)s::text IS NULL OR tenant = %(tenant)s ORDER BY tenant, created_at",
            {"tenant": tenant},
        )
        return await cur.fetchall()


async def revoke(pool: Pool, name_or_prefix: str, tenant: str | None = None) -> dict[str, Any]:
    """Revoke the one live key with this name or secret prefix (of ``tenant``, if given); returns it. Servers
    refuse it within a second (:data:`KEY_CACHE_S`)."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT key_hash, name, prefix, tenant FROM steward.api_keys WHERE revoked_at IS NULL"
            " AND (name = %(key)s OR prefix = %(key)s) AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)"
            " FOR UPDATE",
            {"key": name_or_prefix, "tenant": tenant},
        )
        found = await cur.fetchall()
        where = f" in tenant {tenant!r}" if tenant else ""
        if not found:
            raise NotFound(f"no live key named or prefixed {name_or_prefix!r}{where}")
        if len(found) > 1:
            raise InvalidRequest(f"{name_or_prefix!r} matches {len(found)} keys{where}; revoke by name")
        await conn.execute(
            "UPDATE steward.api_keys SET revoked_at = now() WHERE key_hash = %s", (found[0]["key_hash"],)
        )
    return {k: found[0][k] for k in ("name", "prefix", "tenant")}


async def ensure_admin_key(pool: Pool) -> str | None:
    """On a database without keys, create a local admin key for tenant ``default`` and return it (else None)."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("LOCK TABLE steward.api_keys IN EXCLUSIVE MODE")
        if (await (await conn.execute("SELECT 1 FROM steward.api_keys LIMIT 1")).fetchone()) is not None:
            return None
        key = mint()
        await conn.execute(
            "INSERT INTO steward.api_keys (key_hash, prefix, name, tenant, roles)"
            " VALUES (%s, %s, 'local-admin', 'default', ARRAY['admin'])",
            (hash_key(key), key[:10]),
        )
    return key
