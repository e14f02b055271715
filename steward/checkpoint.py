"""The Postgres checkpointer Steward compiles graphs with.

langgraph-checkpoint-postgres' ``AsyncPostgresSaver`` takes one asyncio lock around every query, even when it is
given a pool, so all runs of a process queue behind each other (langgraph issue 7259). With a pool there is
nothing to protect: each call can take its own connection. This subclass does exactly that and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg import AsyncCursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool


class PooledPostgresSaver(AsyncPostgresSaver):
    """``AsyncPostgresSaver`` on a pool, one pooled connection per operation, no process-wide lock."""

    conn: AsyncConnectionPool

    def __init__(self, pool: AsyncConnectionPool, **kwargs) -> None:
        if not isinstance(pool, AsyncConnectionPool):
            raise TypeError("PooledPostgresSaver needs an AsyncConnectionPool")
        super().__init__(pool, **kwargs)

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        async with self.conn.connection() as conn:
            if pipeline:
                async with conn.pipeline(), conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur
            else:
                async with conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur
