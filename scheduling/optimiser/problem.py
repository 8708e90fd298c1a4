"""The optimiser's input: pure data, built from the database by `build.problem_for` and read
by the solver. Confirmed bookings and pending invitations are outside it: a posting with one is
not a Session, and a technologist's own already exclude the Pairs that clash with them (rest
buffer included) and are counted in `cap_left` (confirmed), so nothing frozen can be moved."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from scheduling.matching import Reason

__all__ = ["Pair", "Problem", "Session", "Technologist"]


@dataclass(frozen=True)
class Session:  # one open posting to staff
    id: int  # the posting id
    starts_at: datetime  # aware UTC
    ends_at: datetime
    minutes: int  # duration in whole minutes
    urgency: str  # Urgency value: "routine" | "priority" | "urgent"
    hospital_id: int
    label: str  # human: "Hôpital X, MR 1, Tue 08 Dec 08:00–12:00 (site time)"


@dataclass(frozen=True)
class Technologist:
    id: int  # the user id
    name: str  # display name
    # Per week (the Monday, in their own zone) met by any of their pairs: minutes left under the
    # weekly cap after their confirmed bookings.
    cap_left: Mapping[date, int]
    fortnight_minutes: int  # minutes they already hold (confirmed) over the horizon: fairness


@dataclass(frozen=True)
class Pair:  # a technologist who passes every hard rule for a session (as candidates_for)
    session_id: int
    technologist_id: int
    week: date  # the session's week (Monday) in the technologist's zone: key of cap_left
    reciprocity: int  # points, integer, from the same weights as ranking (scaled ×100)
    experience: int  # vendor + hospital experience points (scaled ×100)
    reasons: tuple[Reason, ...]  # the same Reason facts as candidates_for (hard ✓ then soft)


@dataclass(frozen=True)
class Problem:
    sessions: tuple[Session, ...]  # sorted by (starts_at, id)
    technologists: tuple[Technologist, ...]
    pairs: tuple[Pair, ...]  # sorted by (session_id, technologist_id)
    rest_buffer: timedelta  # scheduling.workload.REST_BUFFER
