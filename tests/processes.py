"""``steward`` subprocesses for the tests: servers and workers with their logs in files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from steward.serving import free_port, wait_until_up

PROJECT = Path(__file__).resolve().parent.parent


class Process:
    """A `steward` subprocess (server or worker) with its log in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "steward.cli", *args], env=env, stdout=self._out, stderr=subprocess.STDOUT
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


def start_server(env: dict[str, str], log: Path, **settings: str) -> tuple[Process, str]:
    """Start `steward serve` on a free port and wait until it answers /ok."""
    port = free_port()
    process = Process(["serve", "--port", str(port)], {**env, **settings}, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process.proc)
    except RuntimeError as exc:
        process.stop()
        raise RuntimeError(f"{exc}:\n{log.read_text()}") from None
    return process, url
