"""Background-run workers: claim queued runs, execute them, and take over runs whose worker died.

Runs inside every server process (``STEWARD_WORKERS`` executors) and as ``steward worker`` processes for
scale-out; they coordinate only through Postgres (``FOR UPDATE SKIP LOCKED``, leases, LISTEN/NOTIFY).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from steward import runs
from steward.executor import execute_run, worker_id
from steward.services import Services

log = logging.getLogger(__name__)


class WorkerPool:
    """``concurrency`` claim-and-execute loops plus one sweeper of lapsed leases."""

    def __init__(self, services: Services, concurrency: int) -> None:
        self.services = services
        self.concurrency = concurrency
        self.worker = worker_id()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(), name=f"steward-worker-{i}") for i in range(self.concurrency)]
        if self.concurrency:
            self._tasks.append(asyncio.create_task(self._sweep(), name="steward-sweeper"))
        log.info("worker %s started with %d executors", self.worker, self.concurrency)

    async def stop(self) -> None:
        """Stop claiming; runs in flight are cancelled and their leases lapse, so another worker continues them
        from their last checkpoint."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _loop(self) -> None:
        settings = self.services.settings
        while True:
            try:
                run = await runs.claim(self.services.pool, self.worker, settings.run_lease_s)
                if run is None:
                    await self.services.notifier.wait_queued(1.0)
                    continue
                log.info("worker %s executing run %s (attempt %d)", self.worker, run.run_id, run.attempt)
                await execute_run(self.services, run, self.worker)
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not kill the loop
                log.exception("worker loop error; retrying in 1s")
                await asyncio.sleep(1)

    async def _sweep(self) -> None:
        interval = max(0.2, self.services.settings.run_lease_s / 2)
        while True:
            try:
                if requeued := await runs.requeue_expired(self.services.pool):
                    log.warning("requeued runs whose worker stopped renewing its lease: %s", requeued)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sweeper error")
            await asyncio.sleep(interval)
