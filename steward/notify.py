"""Wake-ups between processes through Postgres LISTEN/NOTIFY on channel ``steward_runs``.

Payloads: ``queued`` (a run can be claimed), ``done:<run_id>:<thread_id>`` (a run ended), ``cancel:<run_id>``
(stop it now; wakes watchers of ``cancel:<run_id>``) and ``probe:<id>`` (a starting listener's test of itself);
others are ignored. Watchers of :data:`ANY_RUN` wake when any run ends (what live views of a tenant's approvals wait
on). One listening connection per process fans them out to waiting coroutines. Every wait has a timeout and callers
re-check the database, so a lost notification only delays, never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncGenerator
from typing import Protocol, runtime_checkable

import psycopg

from steward.db import describe
from steward.runs import CHANNEL

log = logging.getLogger(__name__)
ANY_RUN = "*"
SAFETY_RECHECK_S = 10.0
"""How long a joiner waits for a run's end before reading the run again anyway, when notifications arrive. Every
run's end is notified and a listener that loses its connection wakes every waiter, so this is a safety net only.
At 1 s, 200 joined runs cost about 200 reads a second with nothing to find."""
POLL_RECHECK_S = 1.0
"""The same when notifications do not arrive (see :meth:`Notifier.start`)."""
PROBE_TIMEOUT_S = 3.0
"""How long a starting listener waits for its own test notification."""


class Waiter:
    """One watcher's wake-up signal."""

    def __init__(self, event: asyncio.Event | None = None) -> None:
        self.event = event

    async def wait(self, timeout: float) -> bool:
        """Until woken or ``timeout`` seconds pass (polling when there is no listener); whether it was woken."""
        if self.event is None:
            await asyncio.sleep(min(timeout, 0.05))
            return False
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            return False
        self.event.clear()
        return True


@runtime_checkable
class Wakeups(Protocol):
    """What waiting code needs: watch a key (``run_id``, ``thread_id``, ``cancel:<run_id>``) or the queue."""

    pushes: bool
    """True when wake-ups are pushed (a LISTEN connection); False when waiters poll."""

    def watching(self, key: str) -> contextlib.AbstractAsyncContextManager[Waiter]: ...

    async def wait_queued(self, timeout: float) -> None: ...


class PollingNotifier:
    """Stand-in where no listener runs (one-shot CLI commands): waiters poll."""

    pushes = False

    @contextlib.asynccontextmanager
    async def watching(self, key: str) -> AsyncGenerator[Waiter]:
        yield Waiter()

    async def wait_queued(self, timeout: float) -> None:
        await asyncio.sleep(min(timeout, 0.2))


class Notifier:
    """Fan-out of ``steward_runs`` notifications to in-process waiters."""

    pushes = True

    def __init__(self, url: str) -> None:
        self.url = url
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._queued = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Listen, then check that a notification sent now arrives. It does not when LISTEN goes through a
        transaction-mode pooler such as PgBouncer: then waiters re-check every :data:`POLL_RECHECK_S` instead of
        waiting for wake-ups, and a warning says how to fix it."""
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._listen(ready), name="steward-notifier")
        await asyncio.wait_for(ready.wait(), timeout=10)
        self.pushes = await self._delivers()
        if not self.pushes:
            log.warning("%s", self.unheard())

    def unheard(self) -> str:
        """What is wrong, and what to do, when this listener hears nothing (``steward doctor`` says it too)."""
        return (
            f"LISTEN at {describe(self.url)} hears nothing (a transaction-mode pooler?): waits poll every"
            f" {POLL_RECHECK_S:.0f} s; point STEWARD_LISTEN_DATABASE_URL at Postgres directly"
        )

    async def _delivers(self) -> bool:
        probe = f"probe:{uuid.uuid4().hex}"
        async with self.watching(probe) as woken:
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, probe))
            return await woken.wait(PROBE_TIMEOUT_S)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self, ready: asyncio.Event) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    ready.set()
                    async for note in conn.notifies():
                        self._dispatch(note.payload)
            except psycopg.Error as exc:  # connection lost: wake everyone to re-check, then reconnect
                log.warning("notification listener lost its connection (%s); reconnecting", exc)
                self._dispatch("queued")
                for key in list(self._waiters):
                    self._wake(key)
                await asyncio.sleep(1)

    def _dispatch(self, payload: str) -> None:
        if payload == "queued":
            self._queued.set()
            return
        if payload.startswith(("cancel:", "probe:")):
            self._wake(payload)
            return
        if not payload.startswith("done:"):
            log.debug("ignored notification %r", payload)
            return
        _, run_id, thread_id = payload.split(":", 2)
        self._wake(run_id)
        self._wake(thread_id)
        self._wake(ANY_RUN)
        self._queued.set()  # a finished run may unblock the next run of its thread

    def _wake(self, key: str) -> None:
        for event in self._waiters.get(key, ()):
            event.set()

    @contextlib.asynccontextmanager
    async def watching(self, key: str) -> AsyncGenerator[Waiter]:
        """Watch a run or thread id: register first, then check the database, then wait (no lost wake-up)."""
        event = asyncio.Event()
        self._waiters[key].add(event)
        try:
            yield Waiter(event)
        finally:
            self._waiters[key].discard(event)
            if not self._waiters[key]:
                del self._waiters[key]

    async def wait_queued(self, timeout: float) -> None:
        """Wait until some run may be claimable (or ``timeout`` seconds pass)."""
        try:
            await asyncio.wait_for(self._queued.wait(), timeout)
        except TimeoutError:
            pass
        self._queued.clear()
