"""Background-run workers: claim queued runs, execute them, and take over runs whose worker died.

Runs inside every server process and as ``steward worker`` processes for scale-out; they coordinate only through
Postgres (``FOR UPDATE SKIP LOCKED``, leases, LISTEN/NOTIFY).

A run spends most of its life waiting on models and tools, so one claim loop starts each claimed run as an asyncio
task, up to ``concurrency`` runs in flight (``STEWARD_WORKERS``), and claims only while a slot is free
(backpressure: runs nobody can execute yet stay queued in Postgres, where any other worker may take them). A run
holds a database connection only for the statement it is executing, never while it waits on a model or a tool, so
hundreds of runs in flight share a pool of tens of connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import httpx

from steward import metrics, retention, runs, webhooks
from steward.executor import execute_run, worker_id
from steward.notify import ANY_RUN
from steward.services import Services

log = logging.getLogger(__name__)


class WorkerPool:
    """One claim loop executing up to ``concurrency`` runs at once, plus one sweeper of lapsed leases."""

    def __init__(self, services: Services, concurrency: int) -> None:
        self.services = services
        self.concurrency = concurrency
        self.worker = worker_id()
        self._slots = asyncio.Semaphore(concurrency)
        self._loops: list[asyncio.Task[None]] = []
        self._runs: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        """Runs this pool is executing right now."""
        return len(self._runs)

    async def start(self) -> None:
        if self.concurrency:
            self._loops = [
                asyncio.create_task(self._claim_loop(), name="steward-claims"),
                asyncio.create_task(self._sweep(), name="steward-sweeper"),
                asyncio.create_task(self._deliver(), name="steward-webhooks"),
            ]
        log.info("worker %s started: up to %d runs in flight", self.worker, self.concurrency)

    async def stop(self) -> None:
        """Stop claiming; runs in flight are cancelled and their leases lapse, so another worker continues them
        from their last checkpoint."""
        tasks = [*self._loops, *self._runs]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops, self._runs = [], set()

    async def _claim_loop(self) -> None:
        settings = self.services.settings
        while True:
            await self._slots.acquire()
            try:
                run = await runs.claim(self.services.pool, self.worker, settings.run_lease_s)
            except asyncio.CancelledError:
                self._slots.release()
                raise
            except Exception:  # a database hiccup must not kill the loop
                self._slots.release()
                log.exception("claim failed; retrying in 1s")
                await asyncio.sleep(1)
                continue
            if run is None:
                self._slots.release()
                await self.services.notifier.wait_queued(1.0)
                continue
            task = asyncio.create_task(self._execute(run), name=f"steward-run-{run.run_id}")
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)

    async def _execute(self, run: runs.Run) -> None:
        try:
            log.info("worker %s executing run %s (attempt %d)", self.worker, run.run_id, run.attempt)
            await execute_run(self.services, run, self.worker)
        except asyncio.CancelledError:
            raise
        except Exception:  # e.g. the database went away: the lease lapses and another attempt continues
            log.exception("run %s stopped; its lease will lapse and another attempt continues it", run.run_id)
        finally:
            self._slots.release()

    async def _prune(self) -> None:
        """One batch of storage retention: expired threads, old checkpoints of finished threads, old audit events."""
        services = self.services
        gone = await retention.delete_expired(services.pool, services.catalog)
        kept = await retention.keep_latest_checkpoints(
            services.checkpointer, timedelta(seconds=services.settings.checkpoint_retention_s)
        )
        aged = await retention.prune_audit(services.pool)
        if (done := gone + kept + aged) != retention.Pruned():
            log.info("retention: %s", done.model_dump())

    async def _deliver(self) -> None:
        """Deliver due webhooks: at once when a run ends here or elsewhere, else every second."""
        async with httpx.AsyncClient(follow_redirects=False) as client:
            while True:
                try:
                    async with self.services.notifier.watching(ANY_RUN) as woken:
                        if not await webhooks.deliver_due(self.services.pool, client):
                            await woken.wait(1.0)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("webhook delivery error; retrying in 1s")
                    await asyncio.sleep(1)

    async def _sweep(self) -> None:
        interval = max(0.2, self.services.settings.run_lease_s / 2)
        while True:
            try:
                if requeued := await runs.requeue_expired(self.services.pool):
                    metrics.LEASE_TAKEOVERS.inc(len(requeued))
                    log.warning("requeued runs whose worker stopped renewing its lease: %s", requeued)
                if expired := await runs.expire_approvals(self.services.pool):
                    log.info("approval requests expired unanswered on threads %s", expired)
                await self._prune()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sweeper error")
            await asyncio.sleep(interval)
