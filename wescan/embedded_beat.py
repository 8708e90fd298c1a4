"""Periodic jobs in the embedded mode (`make run`: no REDIS_URL, Celery eager, no beat process).

The in-memory channel layer and the relay's memory store live inside the one Daphne process, so
a job that tells sockets something (an escalated request for help) must run in that process: a
separate `celery beat` could not reach them. Here an asyncio task on Daphne's event loop runs
every entry of `settings.CELERY_BEAT_SCHEDULE` on its schedule (`celery.schedules.schedule` for a
number of seconds, a crontab as given). Each run goes to a worker thread through
`sync_to_async(task.apply)`, so that `async_to_sync` inside the task comes back to this loop. A
failure is logged and the schedule carries on; a run still going when its entry is due again is
not doubled.

Started once per process, with the first connection (Daphne has no start-up hook), by the ASGI
wrapper `with_embedded_beat` in `wescan/asgi.py`, and only when `WESCAN_EMBEDDED_BEAT=1` and no
REDIS_URL is set (`scripts/run.sh` sets it). Production runs `celery -A wescan beat` and workers.
"""

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from celery import Task
from celery.schedules import BaseSchedule, schedule
from django.conf import settings
from django.db import connections

from wescan.celery import app as celery_app

__all__ = ["ENV_VAR", "EmbeddedBeat", "embedded_beat_enabled", "run_beat", "with_embedded_beat"]

logger = logging.getLogger(__name__)

ENV_VAR = "WESCAN_EMBEDDED_BEAT"
# The longest the loop sleeps between two looks at the schedule.
TICK_S = 1.0


@dataclass
class _Entry:
    name: str
    task: Task
    schedule: BaseSchedule
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    last_run_at: datetime
    running: asyncio.Task[None] | None = field(default=None)


def embedded_beat_enabled() -> bool:
    return os.environ.get(ENV_VAR) == "1" and not settings.REDIS_URL


def _as_schedule(value: Any) -> BaseSchedule:
    if isinstance(value, BaseSchedule):
        return value
    if isinstance(value, int | float | timedelta):
        return schedule(run_every=value, app=celery_app)
    raise TypeError(f"not a schedule: {value!r}")


def _entries(beat_schedule: Mapping[str, Mapping[str, Any]]) -> list[_Entry]:
    """The schedule's entries whose task exists (an unknown one is logged and left out)."""
    celery_app.loader.import_default_modules()
    entries = []
    for name, spec in beat_schedule.items():
        task = celery_app.tasks.get(spec["task"])
        if task is None:
            logger.error("periodic job %s: no task %r; it will not run", name, spec["task"])
            continue
        every = _as_schedule(spec["schedule"])
        entries.append(
            _Entry(
                name=name,
                task=task,
                schedule=every,
                args=tuple(spec.get("args", ())),
                kwargs=dict(spec.get("kwargs", {})),
                # As celery beat does: the first run comes one period after the start.
                last_run_at=every.now(),
            )
        )
    return entries


def _apply(entry: _Entry) -> None:
    """One run in a worker thread, with that thread's own database connections, closed after."""
    try:
        result = entry.task.apply(args=entry.args, kwargs=entry.kwargs)
        if result.failed():  # when eager exceptions are not propagated
            logger.error("periodic job %s failed:\n%s", entry.name, result.traceback)
    finally:
        connections.close_all()


async def _run(entry: _Entry) -> None:
    try:
        await sync_to_async(_apply, thread_sensitive=False)(entry)
    except Exception:
        logger.exception("periodic job %s failed", entry.name)


async def run_beat(
    beat_schedule: Mapping[str, Mapping[str, Any]] | None = None, *, tick: float = TICK_S
) -> None:
    """Run the periodic jobs for ever (until cancelled): `beat_schedule` or the settings'."""
    entries = _entries(settings.CELERY_BEAT_SCHEDULE if beat_schedule is None else beat_schedule)
    logger.info("embedded beat: %s", ", ".join(entry.name for entry in entries) or "no jobs")
    try:
        while True:
            pause = tick
            for entry in entries:
                due, next_in = entry.schedule.is_due(entry.last_run_at)
                if due:
                    if entry.running is not None and not entry.running.done():
                        logger.warning("periodic job %s is still running; skipped", entry.name)
                    else:
                        entry.last_run_at = entry.schedule.now()
                        entry.running = asyncio.create_task(_run(entry))
                pause = min(pause, next_in)
            await asyncio.sleep(max(pause, 0.01))
    finally:
        running = [entry.running for entry in entries if entry.running is not None]
        for job in running:
            job.cancel()
        await asyncio.gather(*running, return_exceptions=True)


class EmbeddedBeat:
    """ASGI wrapper that starts `run_beat` on the server's event loop with the first scope it
    sees, once, then passes every scope on to the application."""

    def __init__(
        self,
        app: Any,
        *,
        beat_schedule: Mapping[str, Mapping[str, Any]] | None = None,
        tick: float = TICK_S,
    ) -> None:
        self.app = app
        self.beat_schedule = beat_schedule
        self.tick = tick
        self.beat: asyncio.Task[None] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        if self.beat is None:
            self.beat = asyncio.get_running_loop().create_task(
                run_beat(self.beat_schedule, tick=self.tick), name="wescan-embedded-beat"
            )
            self.beat.add_done_callback(_stopped)
        return await self.app(scope, receive, send)


def _stopped(beat: asyncio.Task[None]) -> None:
    if not beat.cancelled() and beat.exception() is not None:
        logger.error("embedded beat stopped", exc_info=beat.exception())


def with_embedded_beat(app: Any) -> Any:
    """`app` wrapped in EmbeddedBeat in the embedded mode when asked for; else `app` itself."""
    return EmbeddedBeat(app) if embedded_beat_enabled() else app
