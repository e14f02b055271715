"""Knowledge base system of record: support articles (``sandbox.articles``), searched with PostgreSQL full-text
search (a generated ``tsvector``, ``websearch_to_tsquery``, ``ts_rank``), falling back to trigram similarity on
titles where the ``pg_trgm`` extension is installed (the CI server has it; the embedded server does not).

Articles are untrusted text: the search screens each one for instructions aimed at the agent and returns the
markers it found, so a workflow can drop a flagged article before a model reads it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from steward.contracts import READ_RETRY, ToolContext, tool_contract
from steward.sandbox import Record, SystemOfRecord, Table
from tools.guards import injection_markers


class ArticleRecord(Record):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    title: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=20_000)
    tags: list[str] = Field(default_factory=list)


KNOWLEDGE = SystemOfRecord(
    name="knowledge",
    tables=(Table("articles", ArticleRecord, alias="kb"),),
    migrations=(
        """
        CREATE TABLE IF NOT EXISTS sandbox.articles (
            tenant text NOT NULL,
            id text NOT NULL,
            title text NOT NULL,
            body text NOT NULL,
            tags jsonb NOT NULL DEFAULT '[]',
            search tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', body), 'B')
            ) STORED,
            PRIMARY KEY (tenant, id)
        );
        CREATE INDEX IF NOT EXISTS articles_search ON sandbox.articles USING gin (search);
        DO $$ BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pg_trgm is not available: knowledge search uses full-text search only';
        END $$;
        """,
    ),
)


class KbQuery(BaseModel):
    query: str = Field(min_length=1, max_length=500, description="Words to search the knowledge base for")
    limit: int = Field(default=3, ge=1, le=10)


class Article(BaseModel):
    id: str
    title: str
    body: str
    rank: float
    injection_markers: list[str]
    """Instructions aimed at the agent found in the article (it is then not to be shown to a model)."""


class KbResults(BaseModel):
    articles: list[Article]
    fuzzy: bool = False
    """True when no article matched the words and titles were matched by trigram similarity instead."""


SEARCH_SQL = """
SELECT id, title, body, ts_rank(search, q) AS rank
  FROM sandbox.articles, websearch_to_tsquery('english', %(query)s) q
 WHERE tenant = %(tenant)s AND search @@ q
 ORDER BY rank DESC, id LIMIT %(limit)s
"""
FUZZY_SQL = """
SELECT id, title, body, similarity(title, %(query)s) AS rank
  FROM sandbox.articles
 WHERE tenant = %(tenant)s AND similarity(title, %(query)s) > 0.2
 ORDER BY rank DESC, id LIMIT %(limit)s
"""


@tool_contract(
    name="search_kb",
    version="1.0.0",
    kind="read",
    scope="knowledge:articles:read",
    risk="low",
    owner="support-content",
    output=KbResults,
    timeout_s=2.0,
    retry=READ_RETRY,
    cache_ttl_s=300,  # articles change rarely; triage searches the same phrases all day
)
async def search_kb(args: KbQuery, ctx: ToolContext) -> dict[str, Any]:
    """Search the support knowledge base; returns the best-matching articles, best first."""
    params = {"query": args.query, "tenant": ctx.tenant, "limit": args.limit}
    fuzzy = False
    async with ctx.pool.connection() as conn:
        rows = await (await conn.execute(SEARCH_SQL, params)).fetchall()
        if not rows:
            cur = await conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
            if await cur.fetchone():
                rows, fuzzy = await (await conn.execute(FUZZY_SQL, params)).fetchall(), True
    articles = [
        {**row, "rank": float(row["rank"]), "injection_markers": injection_markers(row["body"])} for row in rows
    ]
    return {"articles": articles, "fuzzy": fuzzy}
