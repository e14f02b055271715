"""The type of Steward's connection pool (a module of its own so every layer can name it without import cycles)."""

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool

Pool = AsyncConnectionPool[AsyncConnection[DictRow]]
"""Autocommit connections whose rows are dicts (what every query in Steward reads)."""
