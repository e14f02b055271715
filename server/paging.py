"""Pages of search results as LangGraph Server sends them: ``select`` (the fields wanted) and the
``X-Pagination-Total`` / ``X-Pagination-Next`` headers (the next page's offset, when there is one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Response


def paginate(response: Response, *, offset: int, limit: int, shown: int, more: bool) -> None:
    """Set the headers for a page of ``shown`` items at ``offset``; ``more``: items exist past it (the total is
    then a lower bound, as LangGraph Server gives it)."""
    if more:
        response.headers["X-Pagination-Next"] = str(offset + limit)
        response.headers["X-Pagination-Total"] = str(offset + limit + 1)
    else:
        response.headers["X-Pagination-Total"] = str(offset + shown)


def selected(rows: list[dict[str, Any]], select: Sequence[str] | None) -> list[dict[str, Any]]:
    """Each row with only the ``select``ed fields (all when none is given; the request model admits only fields
    the rows have)."""
    if not select:
        return rows
    return [{field: row[field] for field in select} for row in rows]
