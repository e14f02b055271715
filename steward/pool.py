"""The type of Steward's connection pool (a module of its own so every layer can name it without import cycles)."""

from typing import LiteralString, cast

from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool

Conn = AsyncConnection[DictRow]
"""One of the pool's connections."""
Pool = AsyncConnectionPool[Conn]
"""Autocommit connections whose rows are dicts (what every query in Steward reads)."""


def trusted(query: str) -> LiteralString:
    """SQL text composed here from this code's own constants (its table and column names), never from input:
    what psycopg's ``LiteralString`` parameter asks for, said once where the text is built."""
    return cast(LiteralString, query)


async def one(cursor: AsyncCursor[DictRow]) -> DictRow:
    """The row a statement always returns (an aggregate, ``RETURNING`` of an insert)."""
    row = await cursor.fetchone()
    if row is None:
        raise RuntimeError("the statement returned no row")
    return row
