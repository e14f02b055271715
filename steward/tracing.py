"""OpenTelemetry traces of runs, following the GenAI semantic conventions, plus Steward's own attributes.

One trace per case: a run's span is ``invoke_agent <workflow>`` (``gen_ai.conversation.id`` = the thread); its
nodes, model calls (``chat <model>``), tool calls (``execute_tool <tool>``) and policy decisions are child spans.
A run resumed after an approval continues the trace of the case's first run: its span's parent is that run's span
and it links to it. The trace id is on every audit event and on the run record, so logs, traces and the audit
trail join.

Off by default (``STEWARD_OTEL_EXPORTER=none``): the tracer is OpenTelemetry's no-op one, spans record nothing and
nothing extra is read or written. ``console`` prints spans; ``otlp`` sends them over HTTP to
``STEWARD_OTEL_ENDPOINT`` (e.g. a collector's ``http://localhost:4318/v1/traces``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import steward

_tracer: Tracer = trace.NoOpTracer()
_propagator = TraceContextTextMapPropagator()


def use(provider: Any | None) -> None:
    """Trace through ``provider`` (an SDK ``TracerProvider``), or stop tracing (None)."""
    global _tracer
    _tracer = provider.get_tracer("steward", steward.__version__) if provider is not None else trace.NoOpTracer()


def configure(exporter: str, endpoint: str | None, service_name: str) -> None:
    """Set this process's tracer from settings (``none``, ``console`` or ``otlp``)."""
    if exporter == "none":
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    use(provider)


def enabled() -> bool:
    return not isinstance(_tracer, trace.NoOpTracer)


@contextlib.contextmanager
def span(
    name: str,
    attributes: dict[str, Any],
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: str | None = None,
) -> Generator[Span]:
    """A span, current inside the block. ``parent``: a W3C ``traceparent`` to continue (and link to). With tracing
    off, the invalid span and nothing else (the no-op tracer still made a context per span)."""
    if not enabled():
        yield trace.INVALID_SPAN
        return
    context, links = None, None
    if parent:
        context = _propagator.extract({"traceparent": parent})
        links = [Link(trace.get_current_span(context).get_span_context())]
    clean = {k: v for k, v in attributes.items() if v is not None}
    with _tracer.start_as_current_span(name, context=context, links=links, attributes=clean, kind=kind) as current:
        yield current


def trace_id() -> str | None:
    """The current trace's id (32 hex digits), or None when nothing is traced."""
    found = trace.get_current_span().get_span_context()
    return format(found.trace_id, "032x") if found.is_valid else None


def traceparent() -> str | None:
    """The current span as a W3C ``traceparent``, or None."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, otel_context.get_current())
    return carrier.get("traceparent")


def record_event(event: dict[str, Any], common: dict[str, Any]) -> None:
    """An audit event of a step as a span under the current (node) span, timed by its latency: model calls as
    ``chat``, tool calls as ``execute_tool``, policy decisions as ``policy``; other events (validations,
    approvals) as events on the node's span."""
    if not enabled():
        return
    type_, status, detail = event["type"], event["status"], event.get("detail") or {}
    attributes: dict[str, Any] = {**common, "steward.status": status, "steward.rule_id": event.get("rule_id")}
    if type_ == "model_call":
        model = detail.get("model") or detail.get("provider")
        name = f"chat {model}"
        attributes |= {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "gen_ai.provider.name": "openai" if str(detail.get("provider", "")).startswith("openai:") else "steward",
            "gen_ai.usage.input_tokens": event.get("tokens_in"),
            "gen_ai.usage.output_tokens": event.get("tokens_out"),
            "steward.tier": detail.get("tier"),
            "steward.cost_usd": float(event["cost_usd"]) if event.get("cost_usd") is not None else None,
        }
    elif type_ == "tool_call":
        name = f"execute_tool {event.get('tool')}"
        attributes |= {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": event.get("tool"),
            "gen_ai.tool.type": "function",
            "gen_ai.tool.call.id": detail.get("idempotency_key")
            or f"{common.get('steward.run_id')}:{event.get('tool')}",
        }
    elif type_ == "policy":
        name = f"policy {event.get('tool')}"
        attributes |= {
            "gen_ai.tool.name": event.get("tool"),
            "steward.policy.verdict": event.get("decision"),
            "steward.policy.rule_id": event.get("rule_id"),
            "steward.policy.version": detail.get("policy_version"),
            "steward.mode": detail.get("mode"),
        }
    else:
        clean = {k: v for k, v in attributes.items() if v is not None and not isinstance(v, (dict, list))}
        trace.get_current_span().add_event(f"{type_} {status}", clean)
        return
    end = time.time_ns()
    start = end - int((event.get("latency_ms") or 0) * 1_000_000)
    clean = {k: v for k, v in attributes.items() if v is not None}
    kind = SpanKind.CLIENT if type_ in ("model_call", "tool_call") else SpanKind.INTERNAL
    created = _tracer.start_span(name, attributes=clean, start_time=start, kind=kind)
    if status in ("error", "invalid_output", "rate_limited") or event.get("decision") == "deny":
        created.set_status(trace.Status(trace.StatusCode.ERROR, str(event.get("rule_id") or status)))
    created.end(end_time=end)
