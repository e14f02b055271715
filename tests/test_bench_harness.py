"""``make bench``'s harness: a served process that logged errors fails the bench; ``--quick`` sizes are small; the
model server runs as a process of its own."""

import json
import subprocess
import time

import httpx
import pytest

from evals import bench, bench_harness
from evals.bench_harness import Served, ServerErrors, Sizes


def sleeping(log_start: int) -> Served:
    return Served(subprocess.Popen(["sleep", "30"]), "http://127.0.0.1:1", log_start)


def test_a_server_that_logged_errors_fails_the_bench(tmp_path, monkeypatch):
    log = tmp_path / "bench-server.log"
    monkeypatch.setattr(bench_harness, "LOG", log)
    earlier = "2026-11-26 10:00:00 ERROR steward.runs an earlier stage's server\n"
    log.write_text(earlier + "2026-11-26 10:00:01 INFO steward.access POST /runs/wait 200 12.0ms\n")
    bench_harness.stop_server(sleeping(len(earlier)))  # only its own output counts: the earlier line is not its

    start = log.stat().st_size
    with log.open("a") as out:
        out.write("2026-11-26 10:00:02 ERROR psycopg.pool error connecting: FATAL: sorry, too many clients already\n")
        out.write("Traceback (most recent call last):\n")
    with pytest.raises(ServerErrors, match=r"(?s)2 error line\(s\).*too many clients"):
        bench_harness.stop_server(sleeping(start))


def test_quick_sizes_are_small_and_each_size_can_be_set(monkeypatch):
    full, quick = Sizes.from_env(quick=False), Sizes.from_env(quick=True)
    assert quick.sequential < full.sequential and quick.waiting < full.waiting and quick.background < full.background
    monkeypatch.setenv("BENCH_WAITING", "77")
    assert Sizes.from_env(quick=True).waiting == 77 and Sizes.from_env(quick=False).waiting == 77


def test_an_unknown_scenario_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.parse_args(["--scenarios", "sdk,nonsense"])
    assert exit_.value.code == 2 and "unknown scenario(s) nonsense" in capsys.readouterr().err


def test_the_model_server_answers_from_its_own_process_after_its_latency(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_harness, "LOG", tmp_path / "bench-server.log")
    model = bench_harness.start_model_server(200)
    try:
        body = {
            "model": "bench-model",
            "messages": [
                {"role": "user", "content": '<ticket id="T-1">Please refund $38.50 on invoice INV-7.</ticket>'}
            ],
            "tools": [{"type": "function", "function": {"name": "RefundRequest", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "RefundRequest"}},
        }
        started = time.perf_counter()
        reply = httpx.post(f"{model.url}/v1/chat/completions", json=body, timeout=10).json()
        waited = time.perf_counter() - started
    finally:
        bench_harness.stop_server(model)
    assert model.proc.poll() is not None  # stopped
    (call,) = reply["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] == "RefundRequest"
    assert json.loads(call["function"]["arguments"])["invoice_id"] == "INV-7"
    assert waited >= 0.2  # it answered after its latency, not at once
