"""Tool rate limits per tenant, enforced across processes in Postgres, and cached reads.

Rate limits are **token buckets**: one row per (tenant, tool) holding the tokens left and when they were last
refilled. A call takes a token in one atomic ``UPDATE`` (the row lock orders concurrent callers on every process);
the bucket refills at ``rate_per_minute / 60`` tokens a second up to one minute's worth. A token bucket was chosen
over a sliding window because it is one row and one statement per call, whatever the rate, where a sliding window
keeps (and counts) a row per call in the window; the price is that a full bucket allows a burst of one minute's
calls at once, which is what "N calls per minute" lets a caller do anyway.

Cached reads: a read tool may declare ``cache_ttl_s``; its result is kept in ``steward.tool_cache`` keyed by tenant,
tool, tool version and the arguments' hash, and served until it expires. Writes are never cached.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from steward.pool import Pool

_TAKE = """
INSERT INTO steward.rate_buckets AS b (tenant, tool, tokens, refilled_at)
VALUES (%(tenant)s, %(tool)s, %(burst)s - 1, clock_timestamp())
ON CONFLICT (tenant, tool) DO UPDATE
   SET tokens = least(%(burst)s, b.tokens + extract(epoch FROM clock_timestamp() - b.refilled_at) * %(per_s)s) - 1,
       refilled_at = clock_timestamp()
 WHERE least(%(burst)s, b.tokens + extract(epoch FROM clock_timestamp() - b.refilled_at) * %(per_s)s) >= 1
RETURNING tokens
"""
_LEFT = """
SELECT least(%(burst)s, tokens + extract(epoch FROM clock_timestamp() - refilled_at) * %(per_s)s) AS tokens
  FROM steward.rate_buckets WHERE tenant = %(tenant)s AND tool = %(tool)s
"""


async def take_token(pool: Pool, tenant: str, tool: str, rate_per_minute: int) -> float:
    """Take one call's token from the tenant's bucket for ``tool``. Returns 0 when taken, else how many seconds
    until a token is there (the caller may wait that long and try again)."""
    params = {"tenant": tenant, "tool": tool, "burst": float(rate_per_minute), "per_s": rate_per_minute / 60}
    async with pool.connection() as conn:
        if await (await conn.execute(_TAKE, params)).fetchone() is not None:
            return 0.0
        row = await (await conn.execute(_LEFT, params)).fetchone()
    left = row["tokens"] if row else 0.0
    return max(0.001, (1 - left) / params["per_s"])


def args_hash(args: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(args, sort_keys=True, default=str).encode()).hexdigest()


async def cached(pool: Pool, tenant: str, tool: str, version: str, args: dict[str, Any]) -> Any:
    """A read's cached output, or None."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT output FROM steward.tool_cache WHERE tenant = %s AND tool = %s AND version = %s"
            " AND args_hash = %s AND expires_at > now()",
            (tenant, tool, version, args_hash(args)),
        )
        row = await cur.fetchone()
    return row["output"] if row else None


async def remember(
    pool: Pool, tenant: str, tool: str, version: str, args: dict[str, Any], output: Any, ttl_s: float
) -> None:
    """Keep a read's output for ``ttl_s`` seconds."""
    expires = datetime.now(UTC) + timedelta(seconds=ttl_s)
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO steward.tool_cache (tenant, tool, version, args_hash, output, expires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tenant, tool, version, args_hash)"
            " DO UPDATE SET output = EXCLUDED.output, expires_at = EXCLUDED.expires_at",
            (tenant, tool, version, args_hash(args), Jsonb(output), expires),
        )
