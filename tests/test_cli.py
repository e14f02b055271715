"""The CLI contract: JSON out, exit 2 with a message for every input mistake, and nothing written then."""

from __future__ import annotations

import json

import psycopg
import pytest


def counts(database_url: str) -> tuple[int, int, int]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM steward.threads), (SELECT count(*) FROM"
            " steward.audit_events), (SELECT count(*) FROM sandbox.refunds)"
        ).fetchone()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "payroll", "--input", '{"ticket_id": "T-1"}', "--local", "ci"], "unknown workflow 'payroll'"),
        (["run", "refund", "--input", '{"ticket_id": ', "--local", "ci"], "--input is not valid JSON"),
        (["run", "refund", "--input", '{"ticket": "T-1"}', "--local", "ci"], "ticket_id: Field required"),
        (
            ["run", "refund", "--input", '{"ticket_id": "T 1; drop"}', "--local", "ci"],
            "ticket_id: String should match pattern",
        ),
        (["run", "refund", "--input", '["T-1"]', "--local", "ci"], "input does not match"),
        (
            ["run", "refund", "--input", '{"ticket_id": "T-1"}', "--budget", '{"max_tool_calls": -1}', "--local", "ci"],
            "max_tool_calls",
        ),
        (
            ["run", "refund", "--input", '{"ticket_id": "T-1"}', "--model", "small", "--local", "ci"],
            "--model expects tier=provider",
        ),
        (
            ["run", "refund", "--input", '{"ticket_id": "T-1"}', "--model", "small=gpt", "--local", "ci"],
            "is not 'rules', 'openai:",
        ),
        (
            [
                "run",
                "refund",
                "--input",
                '{"ticket_id": "T-1"}',
                "--model",
                "small=openai:gpt-4o-mini",
                "--local",
                "ci",
            ],
            "--model routes small to an openai: model, but this deployment has no STEWARD_OPENAI_API_KEY",
        ),
        (["resume", "no-such-thread", "--decision", "approve", "--local", "maria"], "unknown thread 'no-such-thread'"),
        (["resume", "no-such-thread", "--local", "maria"], "give --decision"),
        (
            ["resume", "t", "--decision", "approve", "--edit", "{}", "--local", "m"],
            "--edit only goes with --decision edit",
        ),
        (["audit", "no-such-thread"], "unknown thread 'no-such-thread' in tenant 'default'"),
        (["policy", "show", "payroll"], "unknown workflow"),
    ],
)
def test_input_mistakes_exit_2_with_a_message_and_write_nothing(cli, database_url, capsys, argv, message):
    before = counts(database_url)

    assert cli(argv) == 2
    assert message in capsys.readouterr().err
    assert counts(database_url) == before


def test_usage_errors_exit_2(cli, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli(["resume", "t", "--decision", "perhaps", "--local", "m"])
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"tenant": "x", "customers": [{"id": "C-1"}]}', "customers.0.name: Field required"),
        (
            '{"tenant": "x", "customers": [{"id": "C-1", "name": "A"}], "invoices": [{"id": "I", "customer_id": "C-1",'
            ' "amount_usd": "1.234"}]}',
            "invoices.0.amount_usd",
        ),
        (
            '{"tenant": "x", "customers": [{"id": "C-1", "name": "A"}],'
            ' "tickets": [{"id": "T", "customer_id": "C-404", "subject": "s", "body": "b"}]}',
            "do not exist",
        ),
        ('{"tenant": "x", "ticketz": []}', "unknown table(s) ['ticketz']"),
    ],
)
def test_bad_seed_files_load_nothing(cli, database_url, tmp_path, capsys, content, message):
    seed = tmp_path / "seed.json"
    seed.write_text(content)

    assert cli(["sandbox", "load", str(seed)]) == 2
    assert message in capsys.readouterr().err
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM sandbox.customers WHERE tenant = 'x'").fetchone()[0] == 0


def test_missing_seed_file_is_an_input_error(cli, tmp_path, capsys):
    assert cli(["sandbox", "load", str(tmp_path / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_sandbox_load_then_show_round_trips(cli, tmp_path, capsys, tenant):
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "tenant": tenant,
                "customers": [{"id": "C-1", "name": "Ada"}],
                "invoices": [{"id": "INV-1", "customer_id": "C-1", "amount_usd": "9.99"}],
                "tickets": [{"id": "T-1", "customer_id": "C-1", "subject": "s", "body": "b"}],
            }
        )
    )

    assert cli(["sandbox", "load", str(seed)]) == 0
    assert json.loads(capsys.readouterr().out)["loaded"] == {"customers": 1, "tickets": 1, "invoices": 1}
    assert cli(["sandbox", "show", "--tenant", tenant, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(i["id"], i["amount_usd"]) for i in shown["invoices"]] == [("INV-1", "9.99")]
    assert cli(["sandbox", "show", "--tenant", tenant]) == 0
    assert "INV-1" in capsys.readouterr().out


def test_policy_show_prints_the_rule_table(cli, capsys):
    assert cli(["policy", "show", "refund"]) == 0
    out = capsys.readouterr().out
    for rule in ("refund.auto_small", "refund.needs_approval", "refund.over_limit", "refund.cross_customer"):
        assert rule in out


def test_run_prints_json_with_thread_and_status(cli, capsys, tenant, tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "tenant": tenant,
                "customers": [{"id": "C-1", "name": "Ada"}],
                "invoices": [{"id": "INV-1", "customer_id": "C-1", "amount_usd": "30"}],
                "tickets": [{"id": "T-1", "customer_id": "C-1", "subject": "s", "body": "Refund $30 on INV-1 please"}],
            }
        )
    )
    assert cli(["sandbox", "load", str(seed)]) == 0
    capsys.readouterr()

    assert cli(["run", "refund", "--input", '{"ticket_id": "T-1"}', "--tenant", tenant, "--local", "ops"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed" and out["approval_request"] is None and out["thread_id"]
    assert cli(["audit", out["thread_id"], "--tenant", tenant]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert json.loads(lines[-1])["type"] == "final"
    assert cli(["audit", out["thread_id"], "--tenant", "other"]) == 2


def test_the_cli_acts_as_a_named_key_or_an_explicit_local_operator(cli, capsys, seeded, api_keys, monkeypatch):
    run = ["run", "refund", "--input", '{"ticket_id": "T-BIG"}']
    assert cli(run) == 2 and "say who acts: --key KEY (or STEWARD_API_KEY)" in capsys.readouterr().err

    assert cli([*run, "--key", api_keys["runner"], "--tenant", "elsewhere"]) == 2
    assert f"acts for tenant {seeded!r}, not 'elsewhere'" in capsys.readouterr().err
    assert cli([*run, "--key", api_keys["runner"]]) == 0  # the key's tenant, its name as the requester
    thread = json.loads(capsys.readouterr().out)["thread_id"]

    assert cli(["resume", thread, "--decision", "approve", "--key", api_keys["runner"]]) == 2
    assert "needs the approver role" in capsys.readouterr().err
    assert cli(["resume", thread, "--decision", "approve", "--key", "stw_not-a-key"]) == 2
    assert "unknown or revoked" in capsys.readouterr().err
    monkeypatch.setenv("STEWARD_API_KEY", api_keys["approver"])
    assert cli(["resume", thread, "--decision", "approve"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "completed"
    assert cli(["audit", thread, "--tenant", seeded]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["user_id"] == f"{seeded}-runner"
    decided = [e for e in events if e["type"] == "approval" and e["status"] == "approve"]
    assert [(e["user_id"], e["detail"]["decided_by"]) for e in decided] == [(f"{seeded}-approver",) * 2]

    # a local operator is named as one in every record; no key can pose as one
    assert cli(["kill", "set", "--tenant", seeded, "--reason", "drill", "--local", "ops"]) == 0
    assert json.loads(capsys.readouterr().out)["set"]["set_by"] == "local:ops"
    assert cli(["keys", "create", "--tenant", seeded, "--role", "approver", "--name", "local:ops"]) == 2
    assert "may not start with 'local:'" in capsys.readouterr().err
