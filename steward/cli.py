"""``steward``: the command line for people and checks.

Exit codes: 0 success; 2 a usage or input mistake (message on stderr, nothing written); 1 the service
itself failed (e.g. the database cannot be reached).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from steward import (
    acting,
    audit,
    controls,
    db,
    doctor,
    escalations,
    keys,
    operations,
    retention,
    runs,
    sandbox,
    scaffold,
    serving,
    stats,
    threads,
)
from steward.budget import BudgetOverride
from steward.controls import ALL, KillSwitch, ModeSetting, SpendCap
from steward.db import DatabaseUnavailable
from steward.errors import Conflict, InvalidRequest, StewardError, parse_as
from steward.keys import Role
from steward.services import Services
from steward.settings import Settings, load_settings
from steward.workflow import load_catalog


def _json_arg(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{what} is not valid JSON ({exc.msg} at position {exc.pos}): {text!r}") from None


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, show_lines=False)
    for column in rows[0] if rows else ["(empty)"]:
        table.add_column(str(column))
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    return table


async def cmd_run(services: Services, args: argparse.Namespace) -> None:
    budget = parse_as(BudgetOverride, _json_arg(args.budget, "--budget"), "--budget") if args.budget else None
    models = operations.parse_models(args.model)
    services.settings.check_routable(models, "--model")
    result = await operations.start_run(
        services,
        args.workflow,
        _json_arg(args.input, "--input"),
        tenant=args.tenant,
        user=args.actor.identity,
        budget=budget,
        models=models,
    )
    _print(result.model_dump(mode="json"))


def _decision(args: argparse.Namespace) -> dict[str, Any]:
    """The decision the flags describe; an edit's action name is None unless ``--action`` gave it."""
    kind = "edit" if args.edit and args.decision in (None, "edit") else args.decision
    if kind is None:
        raise InvalidRequest("give --decision approve|reject|edit (edit needs --edit '{...}')")
    if kind == "edit":
        if not args.edit:
            raise InvalidRequest('--decision edit needs --edit \'{"amount_usd": "25.00"}\' (the changed args)')
        edited = _json_arg(args.edit, "--edit")
        if not isinstance(edited, dict):
            raise InvalidRequest("--edit must be a JSON object of the arguments to change")
        return {"type": "edit", "edited_action": {"name": args.action, "args": edited}}
    if args.edit:
        raise InvalidRequest(f"--edit only goes with --decision edit, not {kind}")
    return {"type": "reject", "message": args.message} if kind == "reject" else {"type": "approve"}


async def cmd_resume(services: Services, args: argparse.Namespace) -> None:
    decision = _decision(args)
    if decision["type"] == "edit" and decision["edited_action"]["name"] is None:
        request = await operations.pending_request(services, args.thread_id, args.tenant)
        if request is None:
            raise Conflict(f"thread {args.thread_id} is not waiting for an approval")
        decision["edited_action"]["name"] = request["action_requests"][0]["name"]
    who = args.actor.identity
    payload = {"decisions": [decision], "decided_by": who, "comment": args.comment}
    result = await operations.resume_run(services, args.thread_id, payload, tenant=args.tenant, user=who)
    _print(result.model_dump(mode="json"))


async def cmd_audit(services: Services, args: argparse.Namespace) -> None:
    await threads.get(services.pool, args.thread_id, args.tenant)
    for event in await audit.events_for(services.pool, args.thread_id, args.tenant):
        print(json.dumps(event, default=str))


async def cmd_sandbox_load(services: Services, args: argparse.Namespace) -> None:
    systems = services.catalog.systems
    seed = sandbox.read_seed(Path(args.file), systems, table=args.table, tenant=args.tenant)
    _print({"loaded": await sandbox.load(services.pool, seed, systems, reset=args.reset)})


async def cmd_sandbox_show(services: Services, args: argparse.Namespace) -> None:
    data = await sandbox.show(services.pool, services.catalog.systems, args.tenant)
    if args.json:
        _print(data)
        return
    console = Console(width=160)
    for table, rows in data.items():
        console.print(_table(f"sandbox.{table}", rows))


async def cmd_policy_show(services: Services, args: argparse.Namespace) -> None:
    services.workflow(args.workflow)
    policy = services.policy(args.workflow)
    title = f"{args.workflow} policy {policy.version} (allowlist: {', '.join(policy.allowlist)})"
    Console(width=160).print(_table(title, policy.table(args.tenant)))


async def cmd_demo(services: Services, args: argparse.Namespace) -> None:
    chosen = [services.workflow(args.workflow)] if args.workflow else list(services.catalog.values())
    demos = [workflow.demo for workflow in chosen if workflow.demo is not None]
    if not demos:
        raise InvalidRequest(f"no demo declared by {', '.join(w.name for w in chosen)}")
    for demo in demos:
        await demo(services, Console(width=max(Console().width, 130)))


async def cmd_approvals(services: Services, args: argparse.Namespace) -> None:
    _print(await operations.pending_approvals(services, args.tenant, limit=args.limit))


async def cmd_threads(services: Services, args: argparse.Namespace) -> None:
    found = await threads.search(services.pool, args.tenant, status=args.status, limit=args.limit)
    _print([{k: v for k, v in t.public().items() if k != "values"} | {"workflow": t.workflow} for t in found])


async def cmd_runs(services: Services, args: argparse.Namespace) -> None:
    found = await runs.list_for_thread(services.pool, args.thread_id, args.tenant, limit=args.limit)
    _print([run.model_dump(mode="json", exclude={"payload"}) for run in found])


async def cmd_keys_list(services: Services, args: argparse.Namespace) -> None:
    rows = await keys.list_keys(services.pool, args.tenant)
    if args.json:
        _print(rows)
    else:
        Console(width=160).print(_table("API keys", rows))


async def cmd_keys_revoke(services: Services, args: argparse.Namespace) -> None:
    _print({"revoked": await keys.revoke(services.pool, args.key, args.tenant)})


async def cmd_keys_create(services: Services, args: argparse.Namespace) -> None:
    key = await keys.create_key(services.pool, tenant=args.tenant, roles=args.role, name=args.name)
    principal = await keys.lookup(services.pool, key)
    if principal is None:
        raise RuntimeError("the key just created cannot be found")
    _print({"key": key, "name": principal.identity, "tenant": principal.tenant, "roles": sorted(principal.roles)})
    print("store the key now: only its hash is kept", file=sys.stderr)


def _switch_args(args: argparse.Namespace) -> dict[str, str]:
    return {"tenant": args.tenant or ALL, "workflow": args.workflow or ALL, "tool": args.tool or ALL}


async def cmd_kill_set(services: Services, args: argparse.Namespace) -> None:
    if args.workflow:
        services.workflow(args.workflow)
    switch = parse_as(
        KillSwitch, {**_switch_args(args), "reason": args.reason, "set_by": args.actor.identity}, "kill switch"
    )
    _print({"set": (await controls.set_switch(services.pool, switch)).model_dump(mode="json")})


async def cmd_kill_clear(services: Services, args: argparse.Namespace) -> None:
    await controls.clear_switch(services.pool, **_switch_args(args))
    _print({"cleared": _switch_args(args)})


async def cmd_kill_list(services: Services, args: argparse.Namespace) -> None:
    _print([s.model_dump(mode="json") for s in await controls.list_switches(services.pool, args.tenant)])


async def cmd_escalations(services: Services, args: argparse.Namespace) -> None:
    pool, tenant = services.pool, args.tenant
    if args.action == "list":
        items = await escalations.page(pool, tenant, status=args.status, limit=args.limit, offset=args.offset)
        _print([item.model_dump(mode="json") for item in items])
        return
    if args.action == "show":
        item = await escalations.get(pool, tenant, args.id)
        _print({**item.model_dump(mode="json"), "audit": await audit.events_for(pool, item.thread_id, tenant)})
        return
    who = args.actor.identity
    if args.action == "take":
        item = await escalations.take(pool, tenant, args.id, who)
    elif args.action == "note":
        item = await escalations.add_note(pool, tenant, args.id, who, args.text)
    else:
        item = await escalations.close(pool, tenant, args.id, who, args.resolution)
    _print(item.model_dump(mode="json"))


async def cmd_prune(services: Services, args: argparse.Namespace) -> None:
    done = await retention.prune(
        services.checkpointer,
        services.catalog,
        stats.parse_window(args.older_than),
        tenant=args.tenant,
        dry_run=args.dry_run,
    )
    _print({"dry_run": args.dry_run, **done.model_dump()})


async def cmd_stats(services: Services, args: argparse.Namespace) -> None:
    if args.workflow:
        services.workflow(args.workflow)
    rows = await stats.for_tenant(
        services.pool, args.tenant, stats.window_start(args.since), args.workflow, writes=services.catalog.write_tools
    )
    if args.json:
        _print(rows)
        return
    table = [
        {
            "workflow": r["workflow"],
            "cases": r["cases"],
            "completed": r["outcomes"]["completed"],
            "escalated": r["outcomes"]["escalated"],
            "completion": "-" if r["completion_rate"] is None else f"{r['completion_rate']:.0%}",
            "USD/completed": r["cost_per_completed_usd"] or "-",
            "tools/case": r["tool_calls_per_case"] or "-",
            "p50 s": r["latency_p50_s"] or "-",
            "p95 s": r["latency_p95_s"] or "-",
            "approved/edited/rejected/expired": "/".join(str(v) for v in r["approvals"].values()),
            "pending": r["approvals_pending"],
        }
        for r in rows
    ]
    Console(width=200).print(_table(f"tenant {args.tenant}, last {args.since}", table))


async def cmd_cap(services: Services, args: argparse.Namespace) -> None:
    if args.action == "list":
        _print([cap.model_dump(mode="json") for cap in await controls.list_caps(services.pool, args.tenant)])
        return
    workflow = args.workflow or ALL
    if workflow != ALL:
        services.workflow(workflow)
    if args.action == "clear":
        await controls.clear_cap(services.pool, args.tenant, workflow)
        _print({"cleared": {"tenant": args.tenant, "workflow": workflow}})
        return
    cap = parse_as(
        SpendCap,
        {"tenant": args.tenant, "workflow": workflow, "usd_per_day": args.usd, "set_by": args.actor.identity},
        "spend cap",
    )
    _print({"set": (await controls.set_cap(services.pool, cap)).model_dump(mode="json")})


async def cmd_mode_set(services: Services, args: argparse.Namespace) -> None:
    services.workflow(args.workflow)
    setting = ModeSetting(tenant=args.tenant or ALL, workflow=args.workflow, mode=args.mode, set_by=args.actor.identity)
    _print({"set": (await controls.set_mode(services.pool, setting)).model_dump(mode="json")})


async def cmd_mode_list(services: Services, args: argparse.Namespace) -> None:
    settings = {(m.workflow, m.tenant): m.mode for m in await controls.list_modes(services.pool, args.tenant)}
    _print(
        [
            {
                "workflow": name,
                "declared": workflow.mode,
                "set": {tenant: mode for (wf, tenant), mode in settings.items() if wf == name},
            }
            for name, workflow in services.catalog.items()
        ]
    )


def cmd_db(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except StewardError as exc:
        return _fail(str(exc), 2)
    if settings.database_url:
        print(
            f"external PostgreSQL at {db.describe(settings.database_url)} (STEWARD_DATABASE_URL); nothing to"
            " manage here"
        )
        return 0
    pgdata = settings.data_dir.resolve() / "pgdata"
    running = db.embedded_running(settings.data_dir)
    if args.action == "stop":
        if running:
            db.stop_embedded_postgres(settings.data_dir)
            print(f"stopped the embedded PostgreSQL in {pgdata} (its data stays; the next command starts it)")
        else:
            print(f"the embedded PostgreSQL in {pgdata} is not running")
        return 0
    print(
        f"embedded PostgreSQL in {pgdata}: {'running' if running else 'stopped'}"
        + ("" if pgdata.exists() else " (not created yet)")
    )
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except StewardError as exc:
        return _fail(str(exc), 2)
    findings = doctor.run(settings)
    marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}
    table = Table(title="steward doctor", show_lines=False)
    for column in ("check", "", "detail"):
        table.add_column(column)
    for finding in findings:
        table.add_row(finding.check, marks[finding.level], finding.detail)
    Console(width=max(Console().width, 120)).print(table)
    return 1 if any(f.level == "fail" for f in findings) else 0


def cmd_new_workflow(args: argparse.Namespace) -> int:
    try:
        written = scaffold.new_workflow(args.name, args.root)
    except StewardError as exc:
        return _fail(str(exc), 2)
    for path in written:
        print(f"wrote {path}")
    print(
        f"next: steward eval {args.name} --gate   and"
        f"   steward run {args.name} --input '{{\"item_id\": ...}}' --local YOUR_NAME"
    )
    return 0


TENANT_HELP = "the tenant whose systems of record and threads this acts on (default: 'default')"
ACTING_TENANT_HELP = "the tenant to act in (default: the key's; 'default' for --local)"


def _acts(command: argparse.ArgumentParser, role: Role, *, everywhere: bool = False) -> None:
    """The command acts for someone with ``role``: ``--key`` or ``--local`` (see :mod:`steward.acting`).
    ``everywhere``: without ``--tenant`` a local operator acts for every tenant (switches, modes), not 'default'."""
    who = command.add_argument_group("who acts (one of; see steward.acting)")
    who.add_argument("--key", help="act as this API key's holder (default: STEWARD_API_KEY): its name and tenant")
    who.add_argument("--local", metavar="NAME", help="act as a local operator, recorded as local:NAME")
    command.set_defaults(acts_as=role, local_tenant=None if everywhere else "default")


def _aliased_tables() -> list[sandbox.Table]:
    """Declared sandbox tables with a CLI alias (``steward <alias> load FILE.jsonl``); none if the configured
    workflows cannot be loaded (the commands that need them report why)."""
    try:
        catalog = load_catalog(load_settings().workflows)
    except (StewardError, ImportError):
        return []
    return [table for system in catalog.systems for table in system.tables if table.alias]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steward", description="Governed agent workflows on LangGraph.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start a workflow run")
    run.add_argument("workflow")
    run.add_argument("--input", required=True, help="JSON input matching the workflow's input schema")
    run.add_argument("--tenant", help=ACTING_TENANT_HELP)
    _acts(run, "runner")
    run.add_argument("--budget", help="stricter per-run budget as JSON, e.g. '{\"max_tool_calls\": 2}'")
    run.add_argument("--model", help="tier overrides, e.g. small=openai:gpt-4o-mini,medium=rules")
    run.set_defaults(handler=cmd_run)

    resume = sub.add_parser("resume", help="decide a pending approval and resume the run")
    resume.add_argument("thread_id")
    resume.add_argument("--decision", choices=["approve", "reject", "edit"])
    resume.add_argument("--edit", help="JSON object of changed arguments (implies --decision edit)")
    resume.add_argument("--action", help="name of the edited action (default: the pending request's action)")
    resume.add_argument("--message", help="reason given to the requester on reject")
    resume.add_argument("--comment", help="note for the audit trail")
    resume.add_argument("--tenant", help=ACTING_TENANT_HELP)
    _acts(resume, "approver")
    resume.set_defaults(handler=cmd_resume)

    inbox = sub.add_parser("approvals", help="the approval requests waiting in a tenant, oldest first")
    inbox.add_argument("--tenant", default="default", help=TENANT_HELP)
    inbox.add_argument("--limit", type=int, default=50, choices=range(1, 1001), metavar="1..1000")
    inbox.set_defaults(handler=cmd_approvals)
    thread_list = sub.add_parser("threads", help="a tenant's threads, newest first")
    thread_list.add_argument("--tenant", default="default", help=TENANT_HELP)
    thread_list.add_argument("--status", choices=["idle", "busy", "interrupted", "error"])
    thread_list.add_argument("--limit", type=int, default=20, choices=range(1, 1001), metavar="1..1000")
    thread_list.set_defaults(handler=cmd_threads)
    thread_runs = sub.add_parser("runs", help="a thread's runs, newest first")
    thread_runs.add_argument("thread_id")
    thread_runs.add_argument("--tenant", default="default", help=TENANT_HELP)
    thread_runs.add_argument("--limit", type=int, default=20, choices=range(1, 1001), metavar="1..1000")
    thread_runs.set_defaults(handler=cmd_runs)

    audit_cmd = sub.add_parser("audit", help="print a run's audit events as JSONL")
    audit_cmd.add_argument("thread_id")
    audit_cmd.add_argument("--tenant", default="default", help=TENANT_HELP)
    audit_cmd.set_defaults(handler=cmd_audit)

    box = sub.add_parser("sandbox", help="the sandbox systems of record").add_subparsers(dest="action", required=True)
    load = box.add_parser("load", help="load records of any declared sandbox table from a JSON seed file")
    load.add_argument("file", help='a JSON seed ({"tenant": ..., "<table>": [...]}), or JSON lines with --table')
    load.add_argument("--table", help="the file is JSON lines, one record of this table each")
    load.add_argument("--tenant", help="load into this tenant (default: the file's, else 'default')")
    load.add_argument("--reset", action="store_true", help="first empty the tenants the file names")
    load.set_defaults(handler=cmd_sandbox_load)
    for table in _aliased_tables():
        alias = sub.add_parser(table.alias or table.name, help=f"the sandbox table {table.name}").add_subparsers(
            dest="action", required=True
        )
        load_alias = alias.add_parser("load", help=f"load {table.name} from a JSON lines file (one record a line)")
        load_alias.add_argument("file")
        load_alias.add_argument("--tenant", help="load into this tenant (default: 'default')")
        load_alias.set_defaults(handler=cmd_sandbox_load, table=table.name, reset=False)
    show = box.add_parser("show", help="print the sandbox records")
    show.add_argument("--tenant", help="only this tenant's records (default: every tenant's)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_sandbox_show)

    policy = sub.add_parser("policy", help="policies").add_subparsers(dest="action", required=True)
    pshow = policy.add_parser("show", help="print a workflow's policy as a table")
    pshow.add_argument("workflow")
    pshow.add_argument("--tenant", help="show the rules in force for this tenant")
    pshow.set_defaults(handler=cmd_policy_show)

    demo = sub.add_parser("demo", help="run the workflows' demos (each on its own sandbox tenant)")
    demo.add_argument("workflow", nargs="?", help="only this workflow's demo")
    demo.set_defaults(handler=cmd_demo)

    serve = sub.add_parser("serve", help="serve the HTTP API (LangGraph Server-compatible) with workers")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=serving.serve, plain=True)

    worker = sub.add_parser("worker", help="execute queued background runs (scale-out beside servers)")
    worker.add_argument("--concurrency", type=int, help="runs executed at once (default STEWARD_WORKERS)")
    worker.set_defaults(handler=serving.work, plain=True)

    key = sub.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    create = key.add_parser("create", help="create an API key (printed once)")
    create.add_argument("--tenant", required=True, help="the tenant whose data the key may reach")
    create.add_argument("--role", action="append", required=True, choices=["runner", "approver", "admin"])
    create.add_argument("--name", help="identity recorded in the audit trail (default: derived)")
    create.set_defaults(handler=cmd_keys_create)
    listing = key.add_parser("list", help="list keys (names, prefixes, roles; never secrets)")
    listing.add_argument("--tenant", help="only this tenant's keys (default: all)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_keys_list)
    revoke = key.add_parser("revoke", help="revoke a key by its name or secret prefix (refused within a second)")
    revoke.add_argument("key", metavar="NAME|PREFIX")
    revoke.add_argument("--tenant", help="only match keys of this tenant")
    revoke.set_defaults(handler=cmd_keys_revoke)

    kill = sub.add_parser("kill", help="kill switches: stop writes (and new runs) now").add_subparsers(
        dest="action", required=True
    )
    for verb, handler, text in (("set", cmd_kill_set, "turn a switch on"), ("clear", cmd_kill_clear, "turn it off")):
        one = kill.add_parser(verb, help=f"{text}; with no --tenant/--workflow/--tool it covers everything")
        one.add_argument("--tenant", help="only this tenant (default: all)")
        one.add_argument("--workflow", help="only this workflow (it also refuses new runs)")
        one.add_argument("--tool", help="only this tool")
        if verb == "set":
            one.add_argument("--reason", required=True, help="why (shown in every denial and refusal)")
        _acts(one, "admin", everywhere=True)
        one.set_defaults(handler=handler)
    kill_list = kill.add_parser("list", help="the switches in force")
    kill_list.add_argument("--tenant", help="those that reach this tenant (default: all)")
    kill_list.set_defaults(handler=cmd_kill_list)

    queue = sub.add_parser("escalations", help="the escalation queue: runs handed to people").add_subparsers(
        dest="action", required=True
    )
    queue_list = queue.add_parser("list", help="the queue, oldest first (default: everything not closed)")
    queue_list.add_argument("--status", choices=["open", "taken", "closed"])
    queue_list.add_argument("--limit", type=int, default=20, choices=range(1, 1001), metavar="1..1000")
    queue_list.add_argument("--offset", type=int, default=0)
    for verb, text in (
        ("show", "one item with its run's audit trail"),
        ("take", "assign an item to yourself"),
        ("note", "add a note to an item"),
        ("close", "close an item with what was done"),
    ):
        queue.add_parser(verb, help=text).add_argument("id", type=int, help="the escalation's id")
    queue.choices["note"].add_argument("text")
    queue.choices["close"].add_argument("--resolution", required=True, help="what was done")
    for verb, command in queue.choices.items():
        if verb in ("take", "note", "close"):
            command.add_argument("--tenant", help=ACTING_TENANT_HELP)
            _acts(command, "approver")
        else:
            command.add_argument("--tenant", default="default", help=TENANT_HELP)
        command.set_defaults(handler=cmd_escalations)

    prune_cmd = sub.add_parser(
        "prune",
        help="delete expired threads, the old checkpoints of finished ones, and audit events past"
        " STEWARD_AUDIT_RETENTION_DAYS (if set)",
    )
    prune_cmd.add_argument(
        "--older-than", default="30d", help="keep every checkpoint of threads finished more recently (default 30d)"
    )
    prune_cmd.add_argument("--dry-run", action="store_true", help="count what would go (one batch), delete nothing")
    prune_cmd.add_argument("--tenant", help="only this tenant's threads (default: every tenant)")
    prune_cmd.set_defaults(handler=cmd_prune)

    stats_cmd = sub.add_parser("stats", help="cost and outcomes per workflow over a window")
    stats_cmd.add_argument("--tenant", default="default", help=TENANT_HELP)
    stats_cmd.add_argument("--since", default="24h", help="the window: 30m, 24h, 7d (default 24h)")
    stats_cmd.add_argument("--workflow", help="only this workflow")
    stats_cmd.add_argument("--json", action="store_true")
    stats_cmd.set_defaults(handler=cmd_stats)

    caps = sub.add_parser("cap", help="daily spend caps (USD of model cost, per UTC day)").add_subparsers(
        dest="action", required=True
    )
    cap_set = caps.add_parser("set", help="cap a tenant's spend (all workflows, or --workflow)")
    cap_set.add_argument("tenant")
    cap_set.add_argument("usd", help="USD per UTC day, e.g. 25 or 2.50")
    cap_set.add_argument("--workflow", help="only this workflow (default: all of the tenant's)")
    _acts(cap_set, "admin")
    cap_set.set_defaults(handler=cmd_cap)
    cap_clear = caps.add_parser("clear", help="remove a cap")
    cap_clear.add_argument("tenant")
    cap_clear.add_argument("--workflow", help="the workflow's cap (default: the tenant-wide one)")
    _acts(cap_clear, "admin")
    cap_clear.set_defaults(handler=cmd_cap)
    cap_list = caps.add_parser("list", help="the caps set")
    cap_list.add_argument("--tenant", help="only this tenant's (default: all)")
    cap_list.set_defaults(handler=cmd_cap)

    modes = sub.add_parser("mode", help="operating modes: autopilot, suggest, shadow").add_subparsers(
        dest="action", required=True
    )
    mode_set = modes.add_parser("set", help="set a workflow's mode (for one tenant, or every tenant)")
    mode_set.add_argument("workflow")
    mode_set.add_argument("mode", choices=["autopilot", "suggest", "shadow"])
    mode_set.add_argument("--tenant", help="only this tenant (default: every tenant without its own setting)")
    _acts(mode_set, "admin", everywhere=True)
    mode_set.set_defaults(handler=cmd_mode_set)
    mode_list = modes.add_parser("list", help="each workflow's declared mode and the settings over it")
    mode_list.add_argument("--tenant", help="only settings that reach this tenant")
    mode_list.set_defaults(handler=cmd_mode_list)

    sub.add_parser(
        "doctor", help="check the workflows, policies, models, database and keys; exit 1 if something is wrong"
    ).set_defaults(handler=cmd_doctor, plain=True)

    database = sub.add_parser("db", help="the embedded PostgreSQL").add_subparsers(dest="action", required=True)
    database.add_parser("status", help="where the database is and whether the embedded server runs").set_defaults(
        handler=cmd_db, plain=True
    )
    database.add_parser("stop", help="stop the embedded server (its data stays in .steward/)").set_defaults(
        handler=cmd_db, plain=True
    )

    new = sub.add_parser("new", help="scaffold project parts").add_subparsers(dest="what", required=True)
    scaffold = new.add_parser(
        "workflow",
        help="write a working workflow from the template (graph, tools, policy, datasets, langgraph.json entry)",
    )
    scaffold.add_argument("name", help="the workflow's name: lower-case letters, digits and _")
    scaffold.add_argument("--root", type=Path, default=Path("."), help="the project directory (default: here)")
    scaffold.set_defaults(handler=cmd_new_workflow, plain=True)

    from evals.commands import add_commands

    add_commands(sub)
    return parser


def run_handler(
    handler: Callable[[Services, argparse.Namespace], Awaitable[int | None]], args: argparse.Namespace
) -> int:
    async def go() -> int | None:
        async with Services.open(settings) as services:
            if settings.database_url is None:
                print(
                    f"steward: embedded PostgreSQL in {settings.data_dir.resolve() / 'pgdata'}"
                    " (set STEWARD_DATABASE_URL to use another server)",
                    file=sys.stderr,
                )
            if role := getattr(args, "acts_as", None):
                await _resolve_actor(services, settings, args, role)
            return await handler(services, args)

    try:
        settings = load_settings()
    except StewardError as exc:
        return _fail(str(exc), 2)
    try:
        code = asyncio.run(go())
    except StewardError as exc:
        return _fail(str(exc), 2)
    except DatabaseUnavailable as exc:
        return _fail(str(exc), 1)
    return code or 0


async def _resolve_actor(services: Services, settings: Settings, args: argparse.Namespace, role: Role) -> None:
    """Set ``args.actor`` from ``--key`` / ``--local`` / ``STEWARD_API_KEY``, and ``args.tenant`` to where it
    acts: a key's own tenant; for a local operator, the one asked, else the command's default (see :func:`_acts`)."""
    env_key = settings.api_key.get_secret_value() if settings.api_key and args.local is None else None
    args.actor = await acting.resolve(services.pool, key=args.key or env_key, local=args.local, role=role)
    args.tenant = args.actor.tenant(args.tenant, args.local_tenant)


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "plain", False):  # long-running commands that manage their own lifecycle
        return args.handler(args)
    return run_handler(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
