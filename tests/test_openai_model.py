"""The OpenAI path over real HTTP: routing by tier, token usage and cost, retries of 429/500, timeouts."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from pydantic import SecretStr

from steward import audit, controls, operations
from steward.errors import OverLimit
from steward.services import Services
from tests.fake_openai import FakeOpenAI
from tests.seeds import refunds

REQUEST = {
    "invoice_id": "INV-1",
    "amount_usd": 38.5,
    "full_refund": False,
    "reason": "charged twice",
    "ambiguities": [],
}
PROPOSAL = {"invoice_id": "INV-1", "amount_usd": 38.5, "reason": "duplicate charge"}


@pytest.fixture
def fake():
    fake = FakeOpenAI(answers={"RefundRequest": REQUEST, "RefundProposal": PROPOSAL})
    server = fake.start()
    yield fake
    server.should_exit = True


def openai_settings(settings, fake, **extra):
    return settings.model_copy(
        update={
            "openai_base_url": fake.url,
            "openai_api_key": SecretStr("test-key"),
            "model_small": "openai:gpt-4o-mini",
            "model_medium": "openai:gpt-4o",
            "model_timeout_s": 5.0,
            "model_max_retries": 2,
            **extra,
        }
    )


async def test_refund_runs_on_an_openai_compatible_server_with_tokens_and_cost(services, settings, fake, seeded):
    async with Services.open(openai_settings(settings, fake)) as svc:
        result = await operations.start_run(svc, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")
    events = await audit.events_for(services.pool, result.thread_id, seeded)

    assert result.status == "completed"
    assert [r["amount_usd"] for r in await refunds(services.pool, seeded)] == [Decimal("38.50")]
    sent = [r["body"] for r in fake.requests]
    assert [b["model"] for b in sent] == ["gpt-4o-mini", "gpt-4o"]
    assert [b["tool_choice"]["function"]["name"] for b in sent] == ["RefundRequest", "RefundProposal"]
    assert "<ticket" in sent[0]["messages"][-1]["content"] and sent[0]["messages"][0]["role"] == "system"
    assert {r["authorization"] for r in fake.requests} == {"Bearer test-key"}
    calls = [e for e in events if e["type"] == "model_call"]
    assert [(e["detail"]["provider"], e["tokens_in"], e["tokens_out"]) for e in calls] == [
        ("openai:gpt-4o-mini", 1200, 80),
        ("openai:gpt-4o", 1200, 80),
    ]
    # gpt-4o-mini: 1200 * 0.15 + 80 * 0.60 per million; gpt-4o: 1200 * 2.50 + 80 * 10.00 per million
    assert [Decimal(e["cost_usd"]) for e in calls] == [Decimal("0.000228"), Decimal("0.0038")]
    assert Decimal(result.usage["cost_usd"]) == Decimal("0.004028")


async def test_per_run_tier_override_routes_only_that_tier(settings, fake, seeded):
    async with Services.open(openai_settings(settings, fake, model_small="rules", model_medium="rules")) as svc:
        result = await operations.start_run(
            svc, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada", models={"medium": "openai:gpt-4o-mini"}
        )

    assert result.status == "completed"
    assert [r["body"]["tool_choice"]["function"]["name"] for r in fake.requests] == ["RefundProposal"]


@pytest.mark.parametrize("status", [429, 500])
async def test_rate_limits_and_server_errors_are_retried(services, settings, fake, seeded, status):
    fake.faults = [status, status]
    async with Services.open(openai_settings(settings, fake)) as svc:
        result = await operations.start_run(svc, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")

    assert result.status == "completed"
    assert len(fake.requests) == 4  # two failures, then one answer per model call
    assert len(await refunds(services.pool, seeded)) == 1


async def test_a_model_that_does_not_answer_in_time_escalates(services, settings, fake, seeded):
    fake.faults = [("sleep", 2.0), ("sleep", 2.0)]
    async with Services.open(openai_settings(settings, fake, model_timeout_s=0.3, model_max_retries=1)) as svc:
        result = await operations.start_run(svc, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")
    events = await audit.events_for(services.pool, result.thread_id, seeded)

    assert (result.status, result.outcome.reason_code) == ("escalated", "model.timeout")
    assert f"(openai:gpt-4o-mini at {fake.url}) failed" in result.outcome.reason  # where it was asked
    assert len(fake.requests) == 2  # the first try and one retry
    failed = next(e for e in events if e["type"] == "model_call")
    assert failed["status"] == "error" and "Timeout" in failed["reason"]
    assert await refunds(services.pool, seeded) == []


async def test_invalid_model_answer_escalates_instead_of_acting(services, settings, fake, seeded):
    fake.answers["RefundProposal"] = {"invoice_id": "INV-1", "amount_usd": "a lot", "reason": "x"}
    async with Services.open(openai_settings(settings, fake)) as svc:
        result = await operations.start_run(svc, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")

    assert (result.status, result.outcome.reason_code) == ("escalated", "model.invalid_output")
    assert await refunds(services.pool, seeded) == []


async def test_a_model_proposing_too_much_is_stopped_by_policy(services, settings, fake, seeded):
    fake.answers["RefundProposal"] = {**PROPOSAL, "amount_usd": 59}
    fake.answers["RefundRequest"] = {**REQUEST, "amount_usd": 59}
    async with Services.open(openai_settings(settings, fake)) as svc:
        result = await operations.start_run(svc, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")

    assert result.status == "interrupted"
    assert result.approval_request["rule_id"] == "refund.needs_approval"
    assert await refunds(services.pool, seeded) == []


async def test_a_daily_spend_cap_refuses_new_runs_and_stops_runs_in_flight(services, settings, fake, seeded):
    big = {"invoice_id": "INV-2", "amount_usd": 120, "reason": "cancelled in trial"}
    fake.answers |= {"RefundRequest": {**REQUEST, **big}, "RefundProposal": big}
    async with Services.open(openai_settings(settings, fake)) as svc:
        paused = await operations.start_run(svc, "refund", {"ticket_id": "T-BIG"}, tenant=seeded, user="ada")
        assert paused.status == "interrupted" and Decimal(paused.usage["cost_usd"]) == Decimal("0.004028")
        await controls.set_cap(svc.pool, controls.SpendCap(tenant=seeded, usd_per_day=Decimal("0.004"), set_by="ops"))
        await asyncio.sleep(controls.CACHE_S + 0.1)

        with pytest.raises(
            OverLimit, match=r"daily spend cap of 0.0040 USD reached for tenant .* \(0.0040 USD spent today"
        ):
            await operations.start_run(svc, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")
        approve = {"decisions": [{"type": "approve"}]}
        stopped = await operations.resume_run(svc, paused.thread_id, approve, tenant=seeded, user="maria")
        assert (stopped.status, stopped.outcome.reason_code) == ("escalated", "control.spend_cap")
        assert await refunds(services.pool, seeded) == []

        # a cap on another workflow, or another tenant's, does not reach this one
        fake.answers |= {"RefundRequest": REQUEST, "RefundProposal": PROPOSAL}
        await controls.clear_cap(svc.pool, seeded, "*")
        await controls.set_cap(svc.pool, controls.SpendCap(tenant=seeded, workflow="triage", usd_per_day=0, set_by="o"))
        await controls.set_cap(svc.pool, controls.SpendCap(tenant=f"{seeded}-x", usd_per_day=0, set_by="ops"))
        await asyncio.sleep(controls.CACHE_S + 0.1)
        done = await operations.start_run(svc, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")
        assert done.status == "completed"


def test_the_server_log_has_no_line_per_model_request():
    """The openai SDK's HTTP client (httpx2) logs every request at INFO; a served process, which logs INFO (its
    access log), leaves those out. Applied in a process of its own, as uvicorn applies it in each server process."""
    import subprocess
    import sys

    check = (
        "import logging, logging.config\n"
        "from steward.serving import log_config\n"
        "logging.config.dictConfig(log_config())\n"
        "assert logging.getLogger('steward.access').isEnabledFor(logging.INFO)\n"
        "assert not logging.getLogger('httpx2').isEnabledFor(logging.INFO)\n"
        "assert logging.getLogger('httpx2').isEnabledFor(logging.WARNING)\n"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


async def test_the_request_body_on_the_wire_is_stock_langchain_openais(settings, fake):
    """Steward's OpenAI-compatible model hands the openai SDK its body as ``extra_body`` (skipping the SDK's walk
    over every parameter): what reaches the server must be exactly what stock ``ChatOpenAI`` sends."""
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_openai import ChatOpenAI

    from graphs.refund.graph import RefundRequest
    from steward.models import ModelRouter

    router = ModelRouter(openai_settings(settings, fake))
    ours = router.answering_with("openai:gpt-4o-mini", RefundRequest)
    stock = ChatOpenAI(
        model="gpt-4o-mini", base_url=fake.url, api_key=SecretStr("test-key"), temperature=0, timeout=5.0
    ).bind_tools([RefundRequest], tool_choice="RefundRequest")
    messages = [SystemMessage("Read the ticket."), HumanMessage("<ticket>refund $38.50 on INV-1</ticket>")]
    try:
        for model in (ours, stock):
            reply = await model.ainvoke(messages)
            assert reply.tool_calls[0]["args"] == REQUEST
        for model in (ours, stock):  # streamed, as a run streamed in messages mode asks its model
            chunks = [chunk async for chunk in model.astream(messages)]
            assert sum(chunks[1:], chunks[0]).tool_calls[0]["args"] == REQUEST
    finally:
        await router.aclose()

    ours_sent, stock_sent, ours_streamed, stock_streamed = (r["body"] for r in fake.requests)
    assert ours_sent == stock_sent and ours_streamed == stock_streamed
    assert ours_sent["messages"] == [
        {"role": "system", "content": "Read the ticket."},
        {"role": "user", "content": "<ticket>refund $38.50 on INV-1</ticket>"},
    ]
    assert ours_sent["tools"][0]["function"]["name"] == "RefundRequest"
    assert ours_streamed["stream"] is True and ours_streamed["messages"] == ours_sent["messages"]


async def test_a_run_streamed_in_messages_mode_streams_the_models_answers(services, settings, fake, seeded):
    """Streaming a run with ``messages-tuple`` makes LangGraph ask the chat model to stream: the answers come over
    server-sent events, reach the stream as messages of their nodes, and the run acts on them as on plain answers."""
    streamed: list[tuple[str, object]] = []

    async def sink(mode: str, chunk: object) -> None:
        streamed.append((mode, chunk))

    async with Services.open(openai_settings(settings, fake)) as svc:
        result = await operations.start_run(
            svc, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada", sink=sink, modes=["messages-tuple"]
        )

    assert result.status == "completed"
    assert [r["body"]["stream"] for r in fake.requests] == [True, True]
    messages = [chunk for mode, chunk in streamed if mode == "messages"]
    nodes = [metadata["langgraph_node"] for _, metadata in messages]
    assert "intake" in nodes and "propose" in nodes
    assert [r["amount_usd"] for r in await refunds(services.pool, seeded)] == [Decimal("38.50")]
