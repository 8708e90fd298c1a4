"""Fixtures for the booking tests: a frozen clock, a licensed technologist available every
day, and a posting on Monday 30 November 08:00–12:00 Brussels (see support.py)."""

import pytest

from accounts.models import User
from marketplace.models import SessionPosting
from tests.conftest import World
from tests.scheduling.support import Clock, available, freeze, licensed, local, post


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return freeze(monkeypatch)


@pytest.fixture
def tech(world: World, clock: Clock) -> User:
    """The hospital's technologist: licensed, and available every day on their own account."""
    licensed(world.technologist)
    available(world.technologist)
    return world.technologist


@pytest.fixture
def posting(world: World, clock: Clock) -> SessionPosting:
    """Monday 30 November, 08:00–12:00 on MR 1."""
    return post(world.manager, world.scanner, local(11, 30, 8))
