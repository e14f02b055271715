"""Replay: a recorded run re-executed offline from its audit trail reproduces its decisions; a changed policy
shows which decisions would now differ; nothing is written meanwhile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals import replay
from steward import operations
from steward.cli import main
from steward.errors import InvalidRequest
from tests.seeds import refunds
from tools.policy import POLICY_DIR, load_policy

APPROVE = {"decisions": [{"type": "approve"}], "comment": "ok"}


@pytest.fixture
def stricter(tmp_path: Path) -> Path:
    """The refund policy with auto-approval up to 10 USD and nothing above 100 USD."""
    source = (POLICY_DIR / "refund.toml").read_text()
    source = source.replace('"args.amount_usd <= 50"', '"args.amount_usd <= 10"')
    source = source.replace('"args.amount_usd > 500"', '"args.amount_usd > 100"')
    path = tmp_path / "refund.toml"
    path.write_text(source)
    return path


async def recorded_runs(services, tenant: str) -> dict[str, str]:
    auto = await operations.start_run(services, "refund", {"ticket_id": "T-AUTO"}, tenant=tenant, user="ada")
    escalated = await operations.start_run(services, "refund", {"ticket_id": "T-NOINV"}, tenant=tenant, user="ada")
    paused = await operations.start_run(services, "refund", {"ticket_id": "T-BIG"}, tenant=tenant, user="grace")
    approved = await operations.resume_run(services, paused.thread_id, APPROVE, tenant=tenant, user="maria")
    assert (auto.status, escalated.status, approved.status) == ("completed", "escalated", "completed")
    return {"completed": auto.thread_id, "escalated": escalated.thread_id, "approved": approved.thread_id}


async def audit_count(services) -> int:
    async with services.pool.connection() as conn:
        return (await (await conn.execute("SELECT count(*) AS n FROM steward.audit_events")).fetchone())["n"]


async def test_replays_of_completed_escalated_and_approved_runs_match(services, seeded):
    runs = await recorded_runs(services, seeded)
    before = (await refunds(services.pool, seeded), await audit_count(services))

    for kind, thread_id in runs.items():
        result = await replay.replay(services, thread_id, seeded)
        assert not result.differs, (kind, result.diff())
        assert result.replayed and result.drift == [] and result.policy_version.startswith("sha256:")
    live = await replay.replay(services, runs["approved"], seeded, live_model=True)
    assert not live.differs

    assert (await refunds(services.pool, seeded), await audit_count(services)) == before


async def test_replay_under_a_stricter_policy_shows_the_changed_decisions(services, seeded, stricter):
    runs = await recorded_runs(services, seeded)

    auto = await replay.replay(services, runs["completed"], seeded, policy_file=stricter)
    approved = await replay.replay(services, runs["approved"], seeded, policy_file=stricter)
    escalated = await replay.replay(services, runs["escalated"], seeded, policy_file=stricter)

    assert auto.differs and approved.differs and not escalated.differs
    assert ("-", "policy_gate  policy  create_refund  allow  refund.auto_small") in auto.diff()
    assert ("+", "policy_gate  policy  create_refund  require_approval  refund.needs_approval") in auto.diff()
    assert auto.outcome(auto.replayed) == "(did not finish)" and auto.replayed[-1] == "approval  approval  waiting"
    assert ("+", "policy_gate  policy  create_refund  deny  refund.over_limit") in approved.diff()
    assert approved.outcome(approved.replayed) == "denied  refund.over_limit"
    assert approved.outcome(approved.original) == "completed  refund.issued"


async def test_replay_uses_the_pinned_policy_not_todays(services, seeded, stricter):
    runs = await recorded_runs(services, seeded)
    changed_today = services.with_policy("refund", load_policy("refund", path=stricter))

    result = await replay.replay(changed_today, runs["completed"], seeded)

    assert not result.differs and result.policy_version == services.policy("refund").version


async def test_a_run_that_never_finished_cannot_be_replayed(services, seeded):
    paused = await operations.start_run(services, "refund", {"ticket_id": "T-BIG"}, tenant=seeded, user="grace")
    with pytest.raises(InvalidRequest, match="no finished run"):
        await replay.replay(services, paused.thread_id, seeded)


def test_replay_command_exit_codes(cli_env, monkeypatch, capsys, services, seeded, stricter):
    for name, value in cli_env.items():
        if name.startswith("STEWARD_"):
            monkeypatch.setenv(name, value)
    assert main(["run", "refund", "--input", '{"ticket_id": "T-AUTO"}', "--tenant", seeded, "--local", "ops"]) == 0
    thread_id = json.loads(capsys.readouterr().out)["thread_id"]

    assert main(["replay", thread_id, "--tenant", seeded]) == 0
    assert "same decisions" in capsys.readouterr().out
    assert main(["replay", thread_id, "--tenant", seeded, "--policy", str(stricter)]) == 1
    assert "DIFFERENT" in capsys.readouterr().out
    assert main(["replay", "--since", "1h", "--tenant", seeded, "--policy", str(stricter)]) == 1
    assert main(["replay", "no-such-thread", "--tenant", seeded]) == 2
    assert main(["replay", "--since", "soon", "--tenant", seeded]) == 2
    assert "since must be a window like 7d" in capsys.readouterr().err
