"""``make bench``'s harness: a served process that logged errors fails the bench; ``--quick`` sizes are small."""

import subprocess

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
