"""The policy engine on its own: pure, ordered, fail-closed, overridable per tenant."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tools.policy import Condition, PolicyError, load_policy, parse_policy

FACTS = {
    "invoice_found": True,
    "invoice_in_other_tenant": False,
    "invoice_customer_id": "C-1",
    "ticket_customer_id": "C-1",
    "unrefunded_balance_usd": Decimal("900"),
    "ticket_refunded_usd": Decimal("0"),
    "ticket_injection_markers": [],
}


def decide(policy, amount: str, tenant: str = "acme", **facts):
    return policy.decide(
        tool="create_refund",
        kind="write",
        args={"amount_usd": Decimal(amount), "customer_id": "C-1", "invoice_id": "INV-1", "ticket_id": "T-1"},
        facts={**FACTS, **facts},
        ctx={"tenant": tenant},
    )


@pytest.fixture(scope="module")
def policy():
    return load_policy("refund")


@pytest.mark.parametrize(
    ("amount", "verdict", "rule"),
    [
        ("0.01", "allow", "refund.auto_small"),
        ("50.00", "allow", "refund.auto_small"),
        ("50.01", "require_approval", "refund.needs_approval"),
        ("500", "require_approval", "refund.needs_approval"),
        ("500.01", "deny", "refund.over_limit"),
    ],
)
def test_refund_thresholds(policy, amount, verdict, rule):
    result = decide(policy, amount)
    assert (result.verdict, result.rule_id) == (verdict, rule)
    assert result.policy_version.startswith("sha256:")


def test_facts_from_the_system_of_record_decide_denials(policy):
    assert decide(policy, "10", unrefunded_balance_usd=Decimal("5")).rule_id == "refund.over_balance"
    assert decide(policy, "10", invoice_customer_id="C-2").rule_id == "refund.cross_customer"
    assert (
        decide(policy, "10", invoice_found=False, invoice_in_other_tenant=True).rule_id == "refund.invoice_other_tenant"
    )
    assert decide(policy, "10", ticket_injection_markers=["role_override"]).verdict == "require_approval"


def test_reason_quotes_the_values_that_decided(policy):
    reason = decide(policy, "80", unrefunded_balance_usd=Decimal("20.50")).reason
    assert reason == "Refund 80 exceeds the unrefunded balance 20.50 of INV-1."


def test_tool_off_the_allowlist_is_denied_before_any_rule(policy):
    result = policy.decide(tool="delete_customer", kind="write", args={}, facts={}, ctx={"tenant": "acme"})
    assert (result.verdict, result.rule_id) == ("deny", "policy.tool_not_allowed")


def test_reads_default_to_allow_and_writes_fail_closed():
    policy = parse_policy(b'workflow = "w"\nallowlist = ["r", "w"]\nrules = []\n', "inline")
    assert policy.decide(tool="r", kind="read", args={}, facts={}, ctx={}).rule_id == "default.read"
    assert policy.decide(tool="w", kind="write", args={}, facts={}, ctx={}).verdict == "deny"


def test_a_condition_that_cannot_be_evaluated_denies(policy):
    result = decide(policy, "10", unrefunded_balance_usd=None)
    assert (result.verdict, result.rule_id) == ("deny", "policy.evaluation_error")
    missing = {k: v for k, v in FACTS.items() if k != "invoice_customer_id"}
    result = policy.decide(
        tool="create_refund",
        kind="write",
        args={"amount_usd": 1, "customer_id": "C-1"},
        facts=missing,
        ctx={"tenant": "t"},
    )
    assert result.rule_id == "policy.evaluation_error" and "invoice_customer_id" in result.reason


TENANT_POLICY = Path(__file__).parent / "data" / "refund_tenant_override.toml"


def test_tenant_override_replaces_a_rule_in_place_and_adds_new_ones_first():
    policy = load_policy("refund", path=TENANT_POLICY)

    assert decide(policy, "90", tenant="acme").rule_id == "refund.auto_small"  # acme auto-approves up to 100
    assert decide(policy, "90", tenant="other").rule_id == "refund.needs_approval"
    assert decide(policy, "5", tenant="acme", ticket_customer_id="VIP").rule_id == "acme.vip_block"
    rows = policy.table("acme")
    assert [r["id"] for r in rows[:2]] == ["acme.vip_block", "refund.invoice_other_tenant"]
    assert next(r for r in rows if r["id"] == "refund.auto_small")["when"] == "args.amount_usd <= 100"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            b'workflow = "refund"\nallowlist = []\n[[rules]]\nid = "x"\nwhen = ["amount > 5"]\nverdict = "allow"\n'
            b'reason = "r"\n',
            "rule x",
        ),
        (
            b'workflow = "refund"\nallowlist = []\n[[rules]]\nid = "x"\nwhen = ["args.a >> 5"]\nverdict = "allow"\n'
            b'reason = "r"\n',
            "rule x",
        ),
        (b'workflow = "refund"\nallowlist = []\n[[rules]]\nid = "x"\nverdict = "maybe"\nreason = "r"\n', "verdict"),
        (
            b'workflow = "refund"\nallowlist = []\n[[rules]]\nid = "x"\nverdict = "allow"\nreason = "r"\n'
            b'[[rules]]\nid = "x"\nverdict = "deny"\nreason = "r"\n',
            "repeated: x",
        ),
        (b'workflow = = "refund"', "inline.toml"),
    ],
)
def test_malformed_policies_are_refused_with_the_place_named(source, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy(source, "inline.toml")


def test_condition_compares_numbers_as_decimals_and_supports_membership():
    env = {"args": {"a": 0.1 + 0.2, "tags": ["x"]}, "facts": {"b": Decimal("0.3")}}
    assert Condition.parse("args.a >= 0.3").holds({"args": {"a": Decimal("0.3")}})
    assert Condition.parse("args.tags != []").holds(env)
    assert Condition.parse("facts.b in [0.3, 1]").holds(env)
