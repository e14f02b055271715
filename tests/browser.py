"""Debian's Chromium driven by Playwright's Python package (no browser download): what the browser tests share."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Chromium's flags on this closed network: no background calls home, no sandbox as root."""


SHOTS = Path(__file__).resolve().parent.parent / "reports" / "ui"
"""Where browser tests keep their screenshots (a CI artifact)."""
SHOTS.mkdir(parents=True, exist_ok=True)


def chromium_path() -> str:
    """The system Chromium; in CI (CI=true) a missing browser fails the test, elsewhere it skips, saying why."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "Debian's chromium package is not installed (apt-get install -y chromium; .ci/run does it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
