"""Eval cases: one JSON object per line in the datasets a workflow declares
(``evals/datasets/<workflow>.<golden|adversarial>.jsonl``).

A case names its sandbox (a shared seed from ``evals/datasets/seeds/<name>.json`` plus ``records`` of its own,
in ``steward sandbox load`` format; a record whose ``tenant`` is ``"@other"`` goes to a neighbouring tenant),
the workflow input, the decisions to feed at each approval pause, and what must hold afterwards::

    {"id": "auto-small-refund", "workflow": "refund", "description": "...", "tags": ["auto"],
     "seed": "refund-base",
     "records": {"tickets": [{"id": "T-1", "customer_id": "C-1", "subject": "...", "body": "..."}]},
     "input": {"ticket_id": "T-1"},
     "decisions": [{"decisions": [{"type": "approve"}], "comment": "ok"}],
     "expect": {"status": "completed", "reason_code": "refund.issued",
                "writes": {"refunds": [{"invoice_id": "INV-1", "amount_usd": "38.50"}]},
                "trajectory": {"required": ["get_ticket", "create_refund"], "forbidden": [], "order": "subsequence"},
                "interrupts": 0, "max_cost_usd": "0.01"}}

``expect.writes`` lists, per table a checked write tool writes to, exactly the rows the run must have left there
(each given as the columns that matter; ``[]``: none). ``expect.rows`` lists rows that must be in a table
afterwards (any table, seeded or written; matched on the columns given). ``expect.state`` is a subset the final
state values must contain. Each case runs on a fresh tenant of its own.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from steward.errors import InvalidRequest, explain
from steward.statuses import Result
from steward.workflow import Workflow

DATASETS = Path(__file__).parent / "datasets"
Dataset = Literal["golden", "adversarial"]
ExpectedStatus = Result | Literal["invalid_input"]
"""A run's result, or ``invalid_input``: the workflow refused the case's input."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Trajectory(Strict):
    required: list[str] = Field(default_factory=list)
    """Tools that must be called: in this order (``subsequence``/``strict``) or in any order (``unordered``)."""
    forbidden: list[str] = Field(default_factory=list)
    order: Literal["strict", "subsequence", "unordered"] = "subsequence"


class Expect(Strict):
    status: ExpectedStatus
    reason_code: str | None = None
    writes: dict[str, list[dict[str, Any]]] | None = None
    rows: dict[str, list[dict[str, Any]]] | None = None
    state: dict[str, Any] | None = None
    trajectory: Trajectory | None = None
    interrupts: int | None = None
    """How many times the run paused for people (each approval of a quorum is one pause)."""
    refused: int | None = None
    """How many of the case's decisions must be refused before they reach the run (e.g. the same approver twice)."""
    max_cost_usd: Decimal = Field(ge=0)


class Case(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    workflow: str
    dataset: Dataset = "golden"
    description: str
    tags: list[str] = Field(default_factory=list)
    seed: str | None = None
    records: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    input: dict[str, Any]
    decisions: list[dict[str, Any]] = Field(default_factory=list)
    expect: Expect

    def sandbox(self, tenant: str) -> dict[str, Any]:
        """The case's sandbox seed for ``tenant`` (shared seed first, then the case's own records)."""
        merged: dict[str, list[dict[str, Any]]] = {}
        if self.seed:
            path = DATASETS / "seeds" / f"{self.seed}.json"
            if not path.is_file():
                raise InvalidRequest(f"case {self.id}: no shared seed {path}")
            for table, rows in json.loads(path.read_text()).items():
                merged.setdefault(table, []).extend(rows)
        for table, rows in self.records.items():
            merged.setdefault(table, []).extend(rows)
        for rows in merged.values():
            for row in rows:
                if row.get("tenant") == "@other":
                    row["tenant"] = f"{tenant}-other"
        return {"tenant": tenant, **merged}


def load_file(path: Path) -> list[Case]:
    """Cases of one JSONL file; the dataset comes from the file name. Errors name the line and the field."""
    dataset = path.name.split(".")[1] if path.name.count(".") >= 2 else "golden"
    cases = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            cases.append(Case.model_validate({"dataset": dataset, **json.loads(line)}))
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"{path}:{number}: not JSON ({exc.msg})") from None
        except ValidationError as exc:
            raise InvalidRequest(f"{path}:{number}: {explain(exc)}") from None
    ids = [case.id for case in cases]
    if dupes := sorted({i for i in ids if ids.count(i) > 1}):
        raise InvalidRequest(f"{path}: repeated case ids {dupes}")
    return cases


def load(workflows: list[Workflow], dataset: str = "all") -> list[Case]:
    """The stored cases of ``workflows`` (golden, adversarial or all) from the datasets each declares."""
    kinds = ("golden", "adversarial") if dataset == "all" else (dataset,)
    cases = []
    for workflow in workflows:
        files = [f for f in workflow.datasets if dataset == "all" or f".{dataset}." in f.name]
        if not any(f.is_file() for f in files):
            raise InvalidRequest(
                f"no {' or '.join(kinds)} dataset for workflow {workflow.name!r}"
                f" (declared: {', '.join(map(str, workflow.datasets)) or 'none'})"
            )
        cases += [case for f in files if f.is_file() for case in load_file(f) if case.workflow == workflow.name]
    return cases
