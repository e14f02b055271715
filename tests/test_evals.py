"""Stored datasets, the runner through LangSmith's evaluate, the scoreboard, the gate and the HTML report."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import SecretStr

from evals import cases, report, runner, scoreboard
from evals.runner import evaluate_cases
from graphs import WORKFLOWS
from graphs.refund import graph as refund
from steward.contracts import ToolContext
from steward.errors import InvalidRequest
from steward.tool_calls import invoke_tool
from steward.verdict import PolicyVerdict
from steward.workflow import Catalog
from tests.fake_langsmith import FakeLangSmith
from tools.billing import create_refund

TINY = Path(__file__).parent / "data" / "tiny.jsonl"


def test_every_workflow_ships_datasets_and_refund_covers_the_adversarial_kinds():
    for workflow in WORKFLOWS.values():
        assert cases.load([workflow], "golden"), workflow.name
    stored = cases.load([WORKFLOWS["refund"]])
    assert len(stored) >= 30 and {c.dataset for c in stored} == {"golden", "adversarial"}
    adversarial_tags = {tag for case in stored if case.dataset == "adversarial" for tag in case.tags}
    assert {"injection", "missing", "ambiguous", "cap", "duplicate", "cross", "fault", "edit"} <= adversarial_tags
    assert all(case.expect.writes is not None for case in stored)  # every case asserts the system of record


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "x", "workflow": "refund"', "not JSON"),
        ('{"id": "x", "workflow": "refund", "description": "d", "input": {}}', "expect: Field required"),
        (
            '{"id": "Bad Id", "workflow": "refund", "description": "d", "input": {}, "expect": {"status": "completed",'
            ' "max_cost_usd": "0"}}',
            "id: String should match pattern",
        ),
        (
            '{"id": "x", "workflow": "refund", "description": "d", "input": {}, "expect": {"status": "fine",'
            ' "max_cost_usd": "0"}}',
            "expect.status",
        ),
    ],
)
def test_malformed_case_files_name_the_line_and_field(tmp_path, line, message):
    path = tmp_path / "bad.golden.jsonl"
    path.write_text("\n" + line + "\n")
    with pytest.raises(InvalidRequest, match=f"bad.golden.jsonl:2: .*{message}"):
        cases.load_file(path)


@refund.node
async def propose(state, step):
    """A deliberately wrong variant: proposes the amount without its cents."""
    facts = json.dumps({"request": state.request.model_dump(mode="json"), "invoice": None})
    proposal = await step.ask_model("medium", system=refund.PROPOSE_SYSTEM, prompt=facts, schema=refund.RefundProposal)
    amount = None if proposal.amount_usd is None else str(int(proposal.amount_usd))
    return {
        "action": refund.ProposedAction(
            name="create_refund",
            args={
                "invoice_id": proposal.invoice_id,
                "customer_id": state.ticket.customer_id,
                "ticket_id": state.ticket.id,
                "reason": proposal.reason,
                "amount_usd": amount,
            },
        )
    }


@refund.node
async def policy_gate(state, step):
    """A deliberately wrong variant: never asks the policy engine."""
    return {"verdict": PolicyVerdict(verdict="allow", rule_id="none", reason="skipped", policy_version="none")}


@refund.node
async def execute_ungoverned(state, step):
    """A deliberately wrong variant: writes straight through the tool, around the Step."""
    ctx = ToolContext(step.services.pool, step.tenant, step.thread_id, idempotency_key=f"raw-{step.thread_id}")
    return {"refund": (await invoke_tool(create_refund, state.action.args, ctx)).output}


def variant(**nodes) -> Catalog:
    """The catalog with the refund workflow's nodes replaced."""
    return Catalog({**WORKFLOWS, "refund": replace(WORKFLOWS["refund"], make_graph=lambda: refund.make_graph(**nodes))})


def test_gate_catches_a_silent_failure_and_an_ungoverned_write(settings, tmp_path):
    tiny = cases.load_file(TINY)
    good = scoreboard.build(evaluate_cases(tiny, settings, concurrency=3)[0])
    assert good["overall"]["pass_rate"] == 1.0 and good["overall"]["silent_failures"] == 0
    baseline = scoreboard.baseline_from(good)
    assert scoreboard.gate(good, baseline) == []

    truncated = scoreboard.build(evaluate_cases(tiny, settings, concurrency=3, catalog=variant(propose=propose))[0])
    refund_row = truncated["workflows"]["refund"]
    assert refund_row["silent_failures"] == 1 and refund_row["failed_cases"] == ["refund/auto-small"]
    failed = next(c for c in truncated["cases"] if c["id"] == "auto-small")
    assert failed["status"] == "completed" and not failed["verdicts"]["final_state"]["passed"]
    assert failed["verdicts"]["final_state"]["comment"].startswith(
        "refunds: wrote [{'invoice_id': 'INV-1', 'amount_usd': '38.00'"
    ), failed["verdicts"]["final_state"]
    problems = scoreboard.gate(truncated, baseline)
    assert "refund: 1 silent failure(s)" in problems and any("pass_rate fell" in p for p in problems)

    ungoverned = scoreboard.build(
        evaluate_cases(
            tiny, settings, concurrency=3, catalog=variant(policy_gate=policy_gate, execute=execute_ungoverned)
        )[0]
    )
    assert ungoverned["workflows"]["refund"]["policy_violations"] == 1
    approved = next(c for c in ungoverned["cases"] if c["id"] == "approval-approved")
    assert (
        "written with 0 of the 1 approval(s) refund.needs_approval requires"
        in approved["verdicts"]["policy"]["comment"]
    )
    assert "refund: 1 policy violation(s)" in scoreboard.gate(ungoverned, baseline)

    html = report.render(truncated, title="t", gate_problems=problems)
    # the rules model costs nothing: outcomes and latency are charts, cost is a sentence
    assert html.count("<svg") == 2 and "runs: 0 cost USD (no spread, so no chart)" in html
    assert "auto-small</td><td>FAIL</td>" in html and "Gate failed" in html and ">None<" not in html


def test_histogram_labels_every_bin_and_goes_log_scale_for_an_outlier():
    latencies = [40.0 + i for i in range(30)] + [6000.0]
    chart = report.histogram(latencies, "ms")
    assert "log scale" in chart and "p50 55, p95 69, max 6000 ms" in chart
    labels = re.findall(r'rotate\(45 [^)]*\)">([^<]+)<', chart)
    assert len(labels) == 12 and labels[0] == "40" and float(labels[-1]) < 6000
    # on a linear scale the 30 fast runs would share one bar; on a log scale they spread over several
    bars = [int(n) for n in re.findall(r'<text class="n"[^>]*>(\d+)<', chart)]
    assert sum(bars) == 31 and max(bars) < 30
    assert "linear scale" in report.histogram([1.0, 2.0, 3.0], "USD")
    assert "<svg" not in report.histogram([0.0, 0.0], "USD")


def test_without_a_key_evaluate_makes_no_network_call(settings, monkeypatch):
    fake = FakeLangSmith()
    server = fake.start()
    try:
        offline = runner.Client(api_url=fake.url, api_key="offline", auto_batch_tracing=False)
        monkeypatch.setattr(runner, "langsmith_client", lambda _: (offline, False))
        results, experiment = evaluate_cases(cases.load_file(TINY), settings, concurrency=3)
    finally:
        server.should_exit = True
    assert all(r.passed for r in results) and experiment is None
    assert fake.requests == []


def test_with_a_key_the_dataset_and_experiment_are_uploaded(settings):
    fake = FakeLangSmith()
    server = fake.start()
    tiny = cases.load_file(TINY)
    try:
        keyed = settings.model_copy(update={"langsmith_api_key": SecretStr("ls-test"), "langsmith_endpoint": fake.url})
        results, experiment = evaluate_cases(tiny, keyed, concurrency=3)
    finally:
        server.should_exit = True
    assert experiment and all(r.passed for r in results)
    assert [json.loads(b)["name"] for b in fake.bodies("POST", "/datasets")] == ["steward-refund"]
    uploaded = [e for body in fake.bodies("POST", "/examples/bulk") for e in json.loads(body)]
    assert sorted(e["inputs"]["case"]["id"] for e in uploaded) == sorted(c.id for c in tiny)
    assert {e["outputs"]["status"] for e in uploaded} == {"completed", "denied"}
    assert any(json.loads(b).get("name", "").startswith("steward-refund") for b in fake.bodies("POST", "/sessions"))
    names = fake.multipart_names()
    assert sum(n.startswith("post.") for n in names) >= len(tiny)
    feedback = b"".join(fake.bodies("POST", "/runs/multipart"))
    for key in ("status", "final_state", "trajectory", "policy", "cost"):
        assert f'"key":"{key}"'.encode() in feedback


def test_the_stored_datasets_pass_the_gate_on_the_rules_model(settings):
    """What CI ships on: every stored case of every workflow, against the committed baseline."""
    board = scoreboard.build(evaluate_cases(cases.load(list(WORKFLOWS.values())), settings, concurrency=8)[0])

    assert board["overall"]["failed_cases"] == []
    assert scoreboard.gate(board, scoreboard.read_baseline()) == []


def test_an_eval_leaves_no_tenants_behind_unless_asked(settings, database_url, services):  # services: migrated
    import psycopg

    def eval_rows() -> int:
        with psycopg.connect(database_url) as conn:
            return conn.execute(
                "SELECT (SELECT count(*) FROM sandbox.tickets WHERE tenant LIKE 'eval-%')"
                " + (SELECT count(*) FROM steward.threads WHERE tenant LIKE 'eval-%')"
            ).fetchone()[0]

    before = eval_rows()
    evaluate_cases(cases.load_file(TINY), settings, concurrency=3)
    assert eval_rows() == before
    evaluate_cases(cases.load_file(TINY), settings, concurrency=3, keep=True)
    assert eval_rows() > before
