"""``steward new workflow``: a scaffolded workflow passes its gate and runs, in a copy of the project, with no
other file edited."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from steward.errors import InvalidRequest
from steward.scaffold import new_workflow

PROJECT = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(
    ".venv", ".steward", ".git", "reports", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(PROJECT, copy, ignore=SKIP)
    return copy


def steward(copy: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``steward`` run from the copy, importing the copy's packages (not the installed checkout's)."""
    return subprocess.run(
        [sys.executable, "-m", "steward.cli", *args],
        cwd=copy,
        env={**env, "PYTHONPATH": str(copy)},
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_scaffolded_workflow_passes_its_gate_and_runs(project, cli_env, tenant):
    made = steward(project, cli_env, "new", "workflow", "expense_review")
    assert made.returncode == 0, made.stderr
    assert (
        json.loads((project / "langgraph.json").read_text())["graphs"]["expense_review"]
        == "./graphs/expense_review/graph.py:graph"
    )

    gated = steward(project, cli_env, "eval", "expense_review", "--gate", "--report-dir", str(project / "r"))
    assert gated.returncode == 0, gated.stdout + gated.stderr
    assert "gate passed" in gated.stdout

    seed = project / "items.json"
    seed.write_text(
        json.dumps({"tenant": tenant, "expense_review_items": [{"id": "I-1", "title": "Desk", "amount": "80.00"}]})
    )
    assert steward(project, cli_env, "sandbox", "load", str(seed)).returncode == 0
    ran = steward(
        project, cli_env, "run", "expense_review", "--input", '{"item_id": "I-1"}', "--tenant", tenant, "--local", "ada"
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["outcome"]["reason_code"] == "expense_review.recorded"


def test_the_scaffold_refuses_bad_names_and_never_overwrites(project):
    with pytest.raises(InvalidRequest, match="lower-case"):
        new_workflow("Bad-Name", project)
    with pytest.raises(InvalidRequest, match="would overwrite"):
        new_workflow("triage", project)
    with pytest.raises(InvalidRequest, match="not a Steward project"):
        new_workflow("fine_name", project / "graphs")
    assert not (project / "graphs" / "fine_name").exists()
