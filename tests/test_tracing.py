"""OpenTelemetry spans of runs (GenAI semantic conventions) checked with the SDK's in-memory exporter: the span
tree of a run, its attributes, a resume continuing the case's trace, and the trace id on runs and audit events."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from steward import audit, operations, runs, tracing

APPROVE = {"decisions": [{"type": "approve"}]}


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    yield exporter
    tracing.use(None)


async def test_a_run_is_one_trace_of_node_model_tool_and_policy_spans(spans, services, seeded):
    paused = await operations.start_run(services, "refund", {"ticket_id": "T-BIG"}, tenant=seeded, user="grace")
    first = spans.get_finished_spans()
    done = await operations.resume_run(services, paused.thread_id, APPROVE, tenant=seeded, user="maria")
    everything = spans.get_finished_spans()
    resumed = everything[len(first) :]

    [agent] = [s for s in first if s.name == "invoke_agent refund"]
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.conversation.id"] == paused.thread_id
    assert agent.attributes["steward.tenant"] == seeded and agent.attributes["steward.outcome"] == "waiting"
    trace = agent.context.trace_id
    assert {s.context.trace_id for s in everything} == {trace}  # the resume continues the case's trace

    nodes = {s.name: s for s in first if s.name.startswith("node ")}
    assert {"node intake", "node propose", "node policy_gate"} <= set(nodes)
    assert all(s.parent.span_id == agent.context.span_id for s in nodes.values())
    chat = next(s for s in first if s.name == "chat rules")
    assert chat.parent.span_id == nodes["node intake"].context.span_id
    assert chat.attributes["gen_ai.operation.name"] == "chat" and chat.attributes["gen_ai.request.model"] == "rules"
    assert chat.attributes["gen_ai.usage.input_tokens"] > 0 and chat.attributes["gen_ai.usage.output_tokens"] > 0
    tool = next(s for s in first if s.name == "execute_tool get_ticket")
    assert tool.attributes["gen_ai.tool.name"] == "get_ticket" and tool.attributes["gen_ai.tool.call.id"]
    gate = next(s for s in first if s.name == "policy create_refund")
    assert gate.attributes["steward.policy.verdict"] == "require_approval"
    assert gate.attributes["steward.policy.rule_id"] == "refund.needs_approval"
    assert gate.attributes["steward.mode"] == "autopilot"

    [again] = [s for s in resumed if s.name == "invoke_agent refund"]
    assert again.parent.span_id == agent.context.span_id and again.links[0].context.span_id == agent.context.span_id
    write = next(s for s in resumed if s.name == "execute_tool create_refund")
    assert (
        write.attributes["gen_ai.tool.call.id"].startswith("idem-")
        and again.attributes["steward.outcome"] == "completed"
    )

    hex_id = format(trace, "032x")
    assert {e["trace_id"] for e in await audit.events_for(services.pool, paused.thread_id, seeded)} == {hex_id}
    run = await runs.get(services.pool, paused.thread_id, done.run_id, seeded)
    assert run.trace_id == hex_id and run.public()["trace_id"] == hex_id


async def test_tracing_is_off_by_default_and_records_nothing(services, seeded):
    assert not tracing.enabled()
    result = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="grace")
    assert {e["trace_id"] for e in await audit.events_for(services.pool, result.thread_id, seeded)} == {None}
