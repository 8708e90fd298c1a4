"""The periodic jobs of the embedded mode (`make run`): run on the server's own event loop, each
on its schedule, in a worker thread whose `async_to_sync` comes back to that loop; a failing job
is logged and the others carry on. Started by the ASGI wrapper with the first connection, only
when WESCAN_EMBEDDED_BEAT=1 and no Redis."""

import asyncio
import contextlib
import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from celery import shared_task
from celery.schedules import crontab, schedule
from channels.routing import ProtocolTypeRouter
from django.conf import settings

import wescan.asgi
from wescan.embedded_beat import (
    ENV_VAR,
    EmbeddedBeat,
    _as_schedule,
    _entries,
    run_beat,
    with_embedded_beat,
)

# What the probe task saw, one entry per run.
RUNS: list[dict[str, Any]] = []


async def _running_loop() -> int:
    return id(asyncio.get_running_loop())


@shared_task
def probe(label: str) -> str:
    RUNS.append(
        {
            "label": label,
            "thread": threading.get_ident(),
            "loop": async_to_sync(_running_loop)(),
            "at": time.monotonic(),
        }
    )
    return label


@shared_task
def broken() -> None:
    raise RuntimeError("the mail server went away")


# How many sleepy runs were under way as each one began.
SLEEPY: list[int] = []
_sleeping = threading.Lock()
_running_now = [0]


@shared_task
def sleepy() -> None:
    with _sleeping:
        _running_now[0] += 1
        SLEEPY.append(_running_now[0])
    time.sleep(0.2)
    with _sleeping:
        _running_now[0] -= 1


def _job(task: Any, seconds: float, *args: Any) -> dict[str, Any]:
    return {"task": task.name, "schedule": seconds, "args": args}


@pytest.fixture(autouse=True)
def _no_runs_yet() -> Iterator[None]:
    RUNS.clear()
    SLEEPY.clear()
    yield
    RUNS.clear()
    SLEEPY.clear()


async def _until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def _beat(jobs: dict[str, dict[str, Any]]) -> Any:
    task = asyncio.create_task(run_beat(jobs, tick=0.05))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _labels() -> list[str]:
    return [run["label"] for run in RUNS]


@pytest.mark.asyncio
async def test_each_job_runs_on_its_schedule_from_this_loop() -> None:
    started = time.monotonic()
    jobs = {"fast": _job(probe, 0.2, "fast"), "slow": _job(probe, 60, "slow")}
    async with _beat(jobs):
        await _until(lambda: _labels().count("fast") >= 3)
    # The first run one period after the start, then every period; not once per tick.
    assert RUNS[0]["at"] - started >= 0.19
    assert RUNS[2]["at"] - started >= 0.55
    assert "slow" not in _labels()
    # In a worker thread, and async_to_sync inside the task came back to this loop.
    assert {run["loop"] for run in RUNS} == {id(asyncio.get_running_loop())}
    assert threading.get_ident() not in {run["thread"] for run in RUNS}


@pytest.mark.asyncio
async def test_a_failing_job_is_logged_and_the_others_carry_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="wescan.embedded_beat")
    jobs = {
        "mail": _job(broken, 0.1),
        "ghost": {"task": "nowhere.tasks.nothing", "schedule": 0.1},
        "escalate": _job(probe, 0.1, "escalate"),
    }
    async with _beat(jobs):
        await _until(lambda: _labels().count("escalate") >= 3)
    failures = [r for r in caplog.records if r.getMessage() == "periodic job mail failed"]
    assert len(failures) >= 2
    assert failures[0].exc_info is not None
    assert str(failures[0].exc_info[1]) == "the mail server went away"
    assert "periodic job ghost: no task 'nowhere.tasks.nothing'; it will not run" in [
        r.getMessage() for r in caplog.records
    ]


@pytest.mark.asyncio
async def test_a_job_still_running_is_not_started_twice(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="wescan.embedded_beat")
    jobs = {"slow": _job(sleepy, 0.05)}
    async with _beat(jobs):
        await _until(lambda: len(SLEEPY) >= 2)
    assert max(SLEEPY) == 1  # never two at once
    assert "periodic job slow is still running; skipped" in [r.getMessage() for r in caplog.records]


def test_every_job_of_the_settings_has_a_task_and_a_schedule() -> None:
    entries = _entries(settings.CELERY_BEAT_SCHEDULE)
    assert [entry.name for entry in entries] == list(settings.CELERY_BEAT_SCHEDULE)
    by_name = {entry.name: entry for entry in entries}
    escalate = by_name["escalate-assist-requests"].schedule
    assert isinstance(escalate, schedule)
    assert escalate.run_every == timedelta(seconds=15)
    assert isinstance(by_name["licence-expiry-warnings"].schedule, crontab)


def test_numbers_become_intervals_and_crontabs_stay() -> None:
    daily = crontab(hour=6, minute=0)
    assert _as_schedule(daily) is daily
    assert _as_schedule(5).run_every == timedelta(seconds=5)  # type: ignore[attr-defined]
    assert _as_schedule(timedelta(minutes=1)).run_every == timedelta(minutes=1)  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        _as_schedule("every day")


# --- Started by the ASGI wrapper -------------------------------------------------------------


async def _app(scope: Any, receive: Any, send: Any) -> str:
    return scope["type"]


def test_only_the_embedded_mode_asked_for_wraps_the_application(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.REDIS_URL = ""
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert with_embedded_beat(_app) is _app
    monkeypatch.setenv(ENV_VAR, "0")
    assert with_embedded_beat(_app) is _app
    monkeypatch.setenv(ENV_VAR, "1")
    assert isinstance(with_embedded_beat(_app), EmbeddedBeat)
    # With Redis, `celery beat` and workers run the jobs.
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    assert with_embedded_beat(_app) is _app


def test_asgi_wraps_its_application_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.REDIS_URL = ""
    try:
        monkeypatch.setenv(ENV_VAR, "1")
        importlib.reload(wescan.asgi)
        assert isinstance(wescan.asgi.application, EmbeddedBeat)
        assert isinstance(wescan.asgi.application.app, ProtocolTypeRouter)
        assert wescan.asgi.application.beat is None  # not before the first connection
    finally:
        monkeypatch.delenv(ENV_VAR)
        importlib.reload(wescan.asgi)
    assert isinstance(wescan.asgi.application, ProtocolTypeRouter)


@pytest.mark.asyncio
async def test_the_wrapper_starts_the_beat_once_with_the_first_connection() -> None:
    wrapper = EmbeddedBeat(_app, beat_schedule={"probe": _job(probe, 0.1, "probe")}, tick=0.05)
    assert wrapper.beat is None
    assert await wrapper({"type": "http"}, None, None) == "http"
    beat = wrapper.beat
    assert beat is not None
    assert await wrapper({"type": "websocket"}, None, None) == "websocket"
    assert wrapper.beat is beat
    try:
        await _until(lambda: len(RUNS) >= 2)
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
    assert beat.cancelled()
