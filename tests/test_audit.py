"""The audit log: append-only in Postgres, redacted, and enough to tell what happened and why."""

from __future__ import annotations

import json

import psycopg
import pytest

from steward import audit, operations
from steward.audit import redact


def test_redaction_masks_emails_and_luhn_valid_card_numbers_only():
    data = {"note": "mail ada@example.com, card 4111-1111-1111-1111, order 1234567890123", "n": 5, "list": ["x@y.io"]}
    assert redact(data) == {"note": "mail [email], card [card], order 1234567890123", "n": 5, "list": ["[email]"]}


async def test_stored_events_carry_no_email_or_card_number(services, seeded):
    result = await operations.start_run(services, "refund", {"ticket_id": "T-PII"}, tenant=seeded, user="ada")
    assert result.status == "completed"

    async with services.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT coalesce(args::text, '') || detail::text AS blob FROM steward.audit_events WHERE thread_id = %s",
            (result.thread_id,),
        )
        blob = "".join(row["blob"] for row in await cur.fetchall())
    assert "ada@example.com" not in blob and "4111" not in blob
    assert "[email]" in blob and "[card]" in blob


async def test_the_service_role_can_only_append_to_and_read_the_audit_log(services, seeded):
    result = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")
    assert psycopg.conninfo.conninfo_to_dict(services.database_url)["user"] == "steward_app"

    for statement in (
        "UPDATE steward.audit_events SET status = 'ok' WHERE thread_id = %(t)s",
        "DELETE FROM steward.audit_events WHERE thread_id = %(t)s",
        "TRUNCATE steward.audit_events",
        "ALTER TABLE steward.audit_events DISABLE TRIGGER audit_no_update",
        "DROP TRIGGER audit_no_update ON steward.audit_events",
        "DROP TABLE steward.audit_events",
        "SET session_replication_role = replica",
    ):
        async with services.pool.connection() as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                await conn.execute(statement, {"t": result.thread_id} if "%(t)s" in statement else None)
    async with services.pool.connection() as conn:
        role = await (
            await conn.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user")
        ).fetchone()
    assert role == {"rolsuper": False, "rolcreaterole": False, "rolcreatedb": False}
    assert len(await audit.events_for(services.pool, result.thread_id, result.tenant)) > 5


async def test_even_the_owner_cannot_change_audit_rows(database_url, services, seeded):
    result = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as owner:
        for statement in (
            "UPDATE steward.audit_events SET status = 'ok' WHERE thread_id = %s",
            "DELETE FROM steward.audit_events WHERE thread_id = %s",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                await owner.execute(statement, (result.thread_id,))


async def test_events_are_scoped_to_their_tenant(services, seeded):
    result = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=seeded, user="ada")

    assert await audit.events_for(services.pool, result.thread_id, "someone-else") == []
    assert await audit.events_for(services.pool, result.thread_id, seeded)


async def test_the_trail_alone_explains_an_approved_refund(services, seeded):
    paused = await operations.start_run(services, "refund", {"ticket_id": "T-BIG"}, tenant=seeded, user="grace")
    await operations.resume_run(
        services, paused.thread_id, {"decisions": [{"type": "approve"}]}, tenant=seeded, user="maria"
    )

    events = await audit.events_for(services.pool, paused.thread_id, seeded)
    story = [
        (e["step"], e["type"], e["tool"], e["status"], e["rule_id"])
        for e in events
        if e["type"] != "policy" or e["tool"] == "create_refund"
    ]
    assert story == [
        ("intake", "tool_call", "get_ticket", "ok", None),
        ("intake", "model_call", None, "ok", None),
        ("lookup_invoice", "tool_call", "lookup_invoice", "ok", None),
        ("propose", "model_call", None, "ok", None),
        ("validate", "validator", None, "ok", None),
        ("policy_gate", "policy", "create_refund", "require_approval", "refund.needs_approval"),
        ("policy_gate", "approval", "create_refund", "requested", "refund.needs_approval"),
        ("approval", "approval", "create_refund", "approve", "refund.needs_approval"),
        ("execute", "policy", "create_refund", "require_approval", "refund.needs_approval"),
        ("execute", "intent", "create_refund", "executing", None),
        ("execute", "tool_call", "create_refund", "ok", None),
        ("verify", "tool_call", "get_refund", "ok", None),
        ("verify", "validator", "get_refund", "ok", None),
        ("respond", "final", None, "completed", "refund.issued"),
    ]
    assert {e["user_id"] for e in events if e["step"] in ("intake", "policy_gate")} == {"grace"}
    assert {e["user_id"] for e in events if e["step"] in ("approval", "execute")} == {"maria"}
    assert len({e["run_id"] for e in events}) == 2  # the first invocation and the resume
    write = next(e for e in events if e["type"] == "tool_call" and e["tool"] == "create_refund")
    assert write["tool_version"] == "1.0.0" and write["detail"]["idempotency_key"].startswith("idem-")
    assert write["detail"]["output"]["amount_usd"] == "120.00" and write["latency_ms"] > 0
    model = next(e for e in events if e["type"] == "model_call")
    assert model["detail"]["provider"] == "rules" and model["cost_usd"] == "0"
    assert json.loads(json.dumps(events)) == events  # plain JSON values only (no tuples, Decimals, datetimes)
    assert isinstance(events[0]["ts"], str) and isinstance(events[0]["detail"], dict)


async def test_the_trail_keeps_the_steps_order_though_events_are_written_with_checkpoints(services, seeded):
    """Events go to Postgres with the checkpoint after their step (one statement), so their ids must still follow
    the steps: every run's trail ends with its final event, and a step's events never follow a later step's."""
    order = ["intake", "lookup_invoice", "propose", "validate", "policy_gate", "execute", "verify", "respond"]
    for ticket in ("T-AUTO", "T-FULL", "T-NOINV", "T-UNKNOWN") * 3:
        result = await operations.start_run(services, "refund", {"ticket_id": ticket}, tenant=seeded, user="ada")
        steps = [e["step"] for e in await audit.events_for(services.pool, result.thread_id, seeded)]
        assert steps[-1] == "respond" and steps.count("respond") == 1, steps
        assert steps == sorted(steps, key=order.index), steps


def test_json_of_any_size_of_integer_decimal_and_model():
    from decimal import Decimal

    from steward.jsonable import dumps, jsonable

    value = {"huge": 10**40, "cost": Decimal("0E-8"), "amount": Decimal("38.50"), 3: (1, 2)}
    assert jsonable(value) == {"huge": 10**40, "cost": "0", "amount": "38.50", "3": [1, 2]}
    assert jsonable({"small": 5, "cost": Decimal("0E-8")}) == {"small": 5, "cost": "0"}
    assert dumps([10**40]) == b"[10000000000000000000000000000000000000000]"
