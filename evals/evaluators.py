"""Deterministic evaluators: each compares a case's outcome with its expectation and scores 1 or 0.

They take LangSmith's ``(run, example)`` pair, so ``langsmith.evaluate`` drives them; ``check`` exposes the
same logic on plain dicts.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

Verdict = tuple[bool, str]


def status(out: dict[str, Any], expect: dict[str, Any]) -> Verdict:
    want = (expect["status"], expect.get("reason_code"))
    got = (out["status"], out.get("reason_code") if want[1] else None)
    extra = (
        ""
        if expect.get("interrupts") is None or out["interrupts"] == expect["interrupts"]
        else f"; paused {out['interrupts']} times, expected {expect['interrupts']}"
    )
    refused = out.get("refused", [])
    if expect.get("refused") is not None and len(refused) != expect["refused"]:
        extra += f"; {len(refused)} decision(s) refused ({refused}), expected {expect['refused']}"
    return got == want and not extra, f"expected {want}, got {(out['status'], out.get('reason_code'))}{extra}"


def _same(want: Any, got: Any) -> bool:
    """Equal as values: numbers compare as Decimals ("38.5" == 38.50), everything else as JSON."""
    try:
        if isinstance(want, (int, float, str)) and not isinstance(want, bool) and got is not None:
            return Decimal(str(want)) == Decimal(str(got))
    except ArithmeticError:
        pass
    return want == got


def _matches(want: dict[str, Any], row: dict[str, Any]) -> bool:
    return all(key in row and _same(value, row[key]) for key, value in want.items())


def _unmatched(wanted: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The wanted rows that no distinct row matches (greedy, in order)."""
    free, missing = list(rows), []
    for want in wanted:
        hit = next((row for row in free if _matches(want, row)), None)
        if hit is None:
            missing.append(want)
        else:
            free.remove(hit)
    return missing


def final_state(out: dict[str, Any], expect: dict[str, Any]) -> Verdict:
    problems = []
    for table, wanted in (expect.get("writes") or {}).items():
        made = out["writes"].get(table, [])
        if len(made) != len(wanted) or _unmatched(wanted, made):
            shown = [{k: row.get(k) for k in (wanted[0] if wanted else {"id": None})} for row in made]
            problems.append(f"{table}: wrote {shown or 'nothing'}; expected {wanted or 'nothing'}")
    for table, wanted in (expect.get("rows") or {}).items():
        if missing := _unmatched(wanted, out["rows"].get(table, [])):
            problems.append(f"{table}: no row matching {missing}")
    for field, value in (expect.get("state") or {}).items():
        if out["values"].get(field) != value:
            problems.append(f"state {field}={out['values'].get(field)!r}, expected {value!r}")
    return not problems, "; ".join(problems) or "system of record as expected"


def _subsequence(needle: list[str], haystack: list[str]) -> bool:
    rest = iter(haystack)
    return all(tool in rest for tool in needle)


def trajectory(out: dict[str, Any], expect: dict[str, Any]) -> Verdict:
    spec = expect.get("trajectory")
    if not spec:
        return True, "no trajectory expectation"
    calls = out["tool_calls"]
    required, order = spec.get("required", []), spec.get("order", "subsequence")
    ok = {
        "strict": calls == required,
        "subsequence": _subsequence(required, calls),
        "unordered": set(required) <= set(calls),
    }[order]
    banned = [tool for tool in spec.get("forbidden", []) if tool in calls]
    return ok and not banned, f"called {calls}; required {required} ({order}); forbidden calls {banned}"


def policy(out: dict[str, Any], expect: dict[str, Any]) -> Verdict:
    return not out["violations"], "; ".join(out["violations"]) or "every write within policy"


def cost(out: dict[str, Any], expect: dict[str, Any]) -> Verdict:
    ceiling = Decimal(str(expect["max_cost_usd"]))
    return Decimal(str(out["cost_usd"])) <= ceiling, f"{out['cost_usd']} USD against a ceiling of {ceiling}"


CHECKS: dict[str, Callable[[dict[str, Any], dict[str, Any]], Verdict]] = {
    "status": status,
    "final_state": final_state,
    "trajectory": trajectory,
    "policy": policy,
    "cost": cost,
}


def check(out: dict[str, Any], expect: dict[str, Any]) -> dict[str, Verdict]:
    """Every evaluator's verdict on one case."""
    return {name: fn(out, expect) for name, fn in CHECKS.items()}


def as_langsmith(name: str) -> Callable[[Any, Any], dict[str, Any]]:
    """The evaluator in LangSmith's ``(run, example) -> {key, score, comment}`` form."""
    fn = CHECKS[name]

    def evaluator(run: Any, example: Any) -> dict[str, Any]:
        if not run.outputs:
            return {"key": name, "score": 0, "comment": f"the case crashed: {run.error}"}
        passed, comment = fn(run.outputs, example.outputs)
        return {"key": name, "score": int(passed), "comment": comment}

    evaluator.__name__ = name
    return evaluator
