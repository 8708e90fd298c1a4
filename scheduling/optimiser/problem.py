"""The optimiser's input: pure data, built from the database by `build.problem_for`."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from scheduling.matching import Reason


@dataclass(frozen=True)
class Session:
    """One open posting to staff."""

    id: int
    starts_at: datetime
    ends_at: datetime
    minutes: int
    urgency: str
    hospital_id: int
    label: str


@dataclass(frozen=True)
class Technologist:
    """Someone who qualifies for at least one session."""

    id: int
    name: str
    cap_left: Mapping[date, int]
    fortnight_minutes: int


@dataclass(frozen=True)
class Pair:
    """A technologist who passes every hard rule for a session."""

    session_id: int
    technologist_id: int
    week: date
    reciprocity: int
    experience: int
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class Problem:
    """Everything the solver sees."""

    sessions: tuple[Session, ...]
    technologists: tuple[Technologist, ...]
    pairs: tuple[Pair, ...]
    rest_buffer: timedelta
