"""``steward eval`` and ``steward replay``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console

from evals import cases as datasets
from evals import replay as replays
from evals import report, scoreboard
from evals.runner import evaluate_cases
from steward.errors import InvalidRequest, StewardError
from steward.operations import parse_models
from steward.services import Services
from steward.settings import load_settings
from steward.stats import parse_window
from steward.workflow import Catalog, load_catalog

console = Console(width=160)


def _select(args: argparse.Namespace, catalog: Catalog) -> list[datasets.Case]:
    if unknown := [w for w in args.workflows if w not in catalog]:
        raise InvalidRequest(f"unknown workflow(s) {unknown}; known: {', '.join(sorted(catalog))}")
    if args.cases:
        return [case for path in args.cases for case in datasets.load_file(path)]
    return datasets.load([catalog[name] for name in args.workflows or sorted(catalog)], args.dataset)


def run_eval(args: argparse.Namespace) -> int:
    """Run the datasets, print and write the scoreboard, and apply the gate if asked."""
    try:
        settings = load_settings()
        selected = _select(args, load_catalog(settings.workflows))
        models = parse_models(args.model)
        partial = bool(args.cases) or args.dataset != "all"
        if args.gate and partial and args.baseline == scoreboard.BASELINE:
            raise InvalidRequest(
                "the committed baseline covers the full datasets: drop --dataset/--cases, "
                "or give --baseline made from the same selection"
            )
        results, experiment = evaluate_cases(
            selected, settings, models=models, concurrency=args.concurrency, keep=args.keep
        )
    except (StewardError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    board = scoreboard.build(results)
    console.print(scoreboard.table(board))
    for line in board["overall"]["failed_cases"]:
        console.print(f"[red]failed[/] {line}")
    problems = scoreboard.gate(board, scoreboard.read_baseline(args.baseline)) if args.gate else None
    args.report_dir.mkdir(parents=True, exist_ok=True)
    (args.report_dir / "scoreboard.json").write_text(
        json.dumps({**board, "gate": problems, "models": models, "experiment": experiment}, indent=2)
    )
    (args.report_dir / "report.html").write_text(report.render(board, title="Steward eval", gate_problems=problems))
    console.print(
        f"wrote {args.report_dir / 'scoreboard.json'} and {args.report_dir / 'report.html'}"
        + (f"; LangSmith experiment {experiment}" if experiment else "")
    )
    if args.update_baseline:
        updated = scoreboard.baseline_from(board, scoreboard.read_baseline(args.baseline))
        args.baseline.write_text(json.dumps(updated, indent=2) + "\n")
        console.print(f"baseline written to {args.baseline}")
    if problems:
        console.print("[bold red]gate failed:[/]\n" + "\n".join(f"  - {p}" for p in problems))
        return 1
    if problems is not None:
        console.print("[bold green]gate passed[/]")
    return 0


async def run_replay(services: Services, args: argparse.Namespace) -> int:
    """Replay runs offline; exit 1 when any replayed decision differs from the original."""
    ids = list(args.thread_ids)
    if args.since:
        ids += await replays.finished_threads(services, args.tenant, args.workflow, parse_window(args.since))
    if not ids:
        raise InvalidRequest("give THREAD_ID(s), or --since 7d to replay the runs finished in a window")
    changed = 0
    for thread_id in ids:
        result = await replays.replay(
            services, thread_id, args.tenant, policy_file=args.policy, live_model=args.live_model
        )
        changed += result.differs
        console.rule(f"{thread_id} ({result.workflow}, policy {result.policy_version})")
        for note in result.drift:
            console.print(f"[yellow]version drift:[/] {note}")
        if len(ids) == 1 or result.differs:
            for mark, line in result.diff():
                style = {"-": "red", "+": "green"}.get(mark, "dim")
                console.print(f"[{style}]{mark} {line}[/]", highlight=False)
        console.print(
            f"original: {result.outcome(result.original)}   replay: {result.outcome(result.replayed)}   "
            + ("[bold red]DIFFERENT[/]" if result.differs else "[green]same decisions[/]")
        )
    if len(ids) > 1:
        console.print(f"{changed} of {len(ids)} runs would be decided differently")
    return 1 if changed else 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("eval", help="run the stored eval datasets, print the scoreboard, gate regressions")
    ev.add_argument("workflows", nargs="*", help="workflows to evaluate (default: all)")
    ev.add_argument("--dataset", choices=["golden", "adversarial", "all"], default="all")
    ev.add_argument("--cases", type=Path, action="append", help="a JSONL file of cases instead of the datasets")
    ev.add_argument("--model", help="tier routing for every case, e.g. small=openai:gpt-4o-mini,medium=rules")
    ev.add_argument("--gate", action="store_true", help="exit 1 on a regression, silent failure or violation")
    ev.add_argument("--baseline", type=Path, default=scoreboard.BASELINE)
    ev.add_argument("--update-baseline", action="store_true", help="write this run's metrics as the baseline")
    ev.add_argument("--report-dir", type=Path, default=Path("reports/eval"))
    ev.add_argument("--concurrency", type=int, default=8)
    ev.add_argument("--keep", action="store_true", help="keep the cases' tenants (sandbox rows, threads) afterwards")
    ev.set_defaults(handler=run_eval, plain=True)

    rp = sub.add_parser("replay", help="re-execute recorded runs offline and diff their decisions")
    rp.add_argument("thread_ids", nargs="*")
    rp.add_argument("--tenant", default="default", help="the tenant the runs belong to (default: 'default')")
    rp.add_argument("--policy", type=Path, help="replay under this policy file instead of the pinned one")
    rp.add_argument("--live-model", action="store_true", help="ask the models again instead of the recording")
    rp.add_argument("--since", help="also replay every run of the tenant finished within e.g. 7d, 12h")
    rp.add_argument("--workflow", help="with --since: only this workflow's runs")
    rp.set_defaults(handler=run_replay)
