"""The upstream saver internals steward/checkpoint.py relies on are still there, with the shapes it expects."""

from __future__ import annotations

import inspect
from decimal import Decimal

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.types import _DeltaSnapshot  # noqa: F401  (importable is the check)

from steward import operations, threads
from steward.checkpoint import PUT_BLOBS, PUT_CHECKPOINTS, PUT_WRITES, PooledPostgresSaver, plain_json
from steward.services import StewardContext


def test_the_private_internals_the_pooled_saver_uses_exist_with_their_signatures():
    assert list(inspect.signature(AsyncPostgresSaver._dump_blobs).parameters) == [
        "self",
        "thread_id",
        "checkpoint_ns",
        "values",
        "versions",
    ]
    assert list(inspect.signature(AsyncPostgresSaver._dump_writes).parameters)[:6] == [
        "self",
        "thread_id",
        "checkpoint_ns",
        "checkpoint_id",
        "task_id",
        "task_path",
    ]
    assert "pipeline" in inspect.signature(AsyncPostgresSaver._cursor).parameters
    assert PooledPostgresSaver._cursor is not AsyncPostgresSaver._cursor  # ours: no lock around the pool


async def test_the_tables_it_writes_have_the_columns_it_uses(services):
    async def columns(table: str) -> set[str]:
        async with services.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,)
            )
            return {row["column_name"] for row in await cur.fetchall()}

    assert {"thread_id", "checkpoint_ns", "channel", "version", "type", "blob"} <= await columns("checkpoint_blobs")
    assert {"checkpoint_id", "parent_checkpoint_id", "checkpoint", "metadata"} <= await columns("checkpoints")
    assert {"task_id", "task_path", "idx", "channel", "type", "blob"} <= await columns("checkpoint_writes")
    assert "checkpoint_blobs" in PUT_BLOBS and "checkpoints" in PUT_CHECKPOINTS and "checkpoint_writes" in PUT_WRITES


async def test_a_runs_held_checkpoints_and_writes_are_all_stored(services, seeded):
    """Under Steward's executor checkpoints and task writes are held until the run's next durable point; the rows
    stored must be exactly those LangGraph stores when each put is saved at once (no executor): every checkpoint,
    in its chain, and every write with the checkpoint it belongs to."""

    async def stored(tenant: str, thread_id: str) -> list[tuple]:
        async with services.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT row_number() OVER (ORDER BY checkpoint_id), parent_checkpoint_id IS NULL,"
                " metadata->>'step', metadata->>'source' FROM checkpoints WHERE thread_id = %s ORDER BY checkpoint_id",
                (threads.checkpoint_thread(tenant, thread_id),),
            )
            chain = [tuple(row.values()) for row in await cur.fetchall()]
            cur = await conn.execute(
                "SELECT c.ord, w.channel, w.idx, w.type FROM checkpoint_writes w JOIN (SELECT checkpoint_id,"
                " row_number() OVER (ORDER BY checkpoint_id) AS ord FROM checkpoints WHERE thread_id = %(k)s) c"
                " USING (checkpoint_id) WHERE w.thread_id = %(k)s ORDER BY 1, 2, 3",
                {"k": threads.checkpoint_thread(tenant, thread_id)},
            )
            return chain + [tuple(row.values()) for row in await cur.fetchall()]

    for workflow, run_input in (("ping", {"n": 5}), ("refund", {"ticket_id": "T-BIG"})):
        held = await operations.start_run(services, workflow, run_input, tenant=seeded, user="ada")
        direct = threads.new_thread_id()
        await threads.create(services.pool, tenant=seeded, created_by="ada", thread_id=direct, workflow=workflow)
        context = StewardContext(tenant=seeded, thread_id=direct, user="ada", services=services)
        config = services.run_config(threads.checkpoint_thread(seeded, direct), threads.new_thread_id())
        await services.graph(workflow).ainvoke(run_input, config, context=context, durability="sync")
        assert await stored(seeded, held.thread_id) == await stored(seeded, direct) != []
    assert held.status == "interrupted"  # the refund stopped at its approval: the interrupt's writes were stored
    approve = {"decisions": [{"type": "approve"}]}
    done = await operations.resume_run(services, held.thread_id, approve, tenant=seeded, user="maria")
    assert done.status == "completed"


async def test_a_thread_begun_with_upstreams_longer_versions_continues_with_the_shorter_ones(
    services, seeded, monkeypatch
):
    """Channel versions are compared as strings: a thread paused under upstream's 32-digit versions resumes under
    Steward's 10-digit ones and completes, every new version above every old one."""
    with monkeypatch.context() as patch:
        patch.setattr(PooledPostgresSaver, "get_next_version", AsyncPostgresSaver.get_next_version)
        paused = await operations.start_run(services, "refund", {"ticket_id": "T-BIG"}, tenant=seeded, user="ada")
    config = {"configurable": {"thread_id": threads.checkpoint_thread(seeded, paused.thread_id)}}
    before = (await services.checkpointer.aget_tuple(config)).checkpoint["channel_versions"]
    assert paused.status == "interrupted" and all(len(v.split(".")[0]) == 32 for v in before.values())

    approve = {"decisions": [{"type": "approve"}]}
    done = await operations.resume_run(services, paused.thread_id, approve, tenant=seeded, user="maria")
    assert done.status == "completed" and "120.00" in (done.response or "")
    after = (await services.checkpointer.aget_tuple(config)).checkpoint["channel_versions"]
    renewed = {channel: v for channel, v in after.items() if v != before.get(channel)}
    assert renewed and all(len(v) == 23 and v > max(before.values()) for v in renewed.values())


def test_plain_json_is_what_a_jsonb_column_gives_back_unchanged():
    assert plain_json({"a": [1, 2.5, True, None, "x", {"b": -3}], "c": 0.001})
    for changed in (
        Decimal("1.10"),  # would come back a float or a string
        (1, 2),  # a list
        1e20,  # printed by Postgres as an integer
        float("nan"),
        "a\x00b",  # jsonb refuses NUL
        "\ud800",  # a lone surrogate
        {1: "a"},  # the key a string
        b"bytes",
    ):
        assert not plain_json(changed) and not plain_json({"nested": [changed]})


async def test_awkward_values_come_back_exactly_stored_at_once_or_held(services):
    """Rows go to Postgres as JSON (values in base64): top-level values JSON cannot carry exactly (NaN, a NUL
    character, a float Postgres prints as an integer, exact money, bytes) come back as they were, whether the put
    is stored at once (a graph driven directly) or held for the run's durable point."""
    from typing import Any, TypedDict

    from langgraph.graph import START, StateGraph

    from steward.checkpoint import HELD, Held

    class Awkward(TypedDict, total=False):
        nan: float
        nul: str
        huge: float
        money: Decimal
        raw: bytes
        fine: str

    values: dict[str, Any] = {
        "nan": float("nan"),
        "nul": "a\x00b",
        "huge": 1e20,
        "money": Decimal("1.10"),
        "raw": b"\x00\xff",
        "fine": "é",
    }
    builder = StateGraph(Awkward)
    builder.add_node("set", lambda _: values)
    builder.add_edge(START, "set")
    graph = builder.compile(checkpointer=services.checkpointer)
    for held in (None, Held()):
        config: Any = {"configurable": {"thread_id": f"awkward-{held is None}"}}
        token = HELD.set(held)
        try:
            await graph.ainvoke({"fine": "x"}, config)
            await services.checkpointer.flush()
        finally:
            HELD.reset(token)
        state = (await graph.aget_state(config)).values
        assert state["nan"] != state["nan"]  # NaN
        assert {k: v for k, v in state.items() if k != "nan"} == {k: v for k, v in values.items() if k != "nan"}
        assert type(state["money"]) is Decimal and type(state["huge"]) is float
