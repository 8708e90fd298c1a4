"""A Problem, indexed for the solver, the baseline and the explanations, with the objective's
integer weights (`scheduling.weights` says what they mean) and a proposal under construction.

Everything here is ordered by ids and times, never by the order of the Problem's tuples, so the
same market gives the same model, the same baseline and the same words."""

import zlib
from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from math import gcd

from scheduling.optimiser.problem import Pair, Problem, Session, Technologist
from scheduling.weights import OBJECTIVE, Objective

# CP-SAT works in 64-bit integers; the objective's range must fit with room to spare.
OBJECTIVE_LIMIT = 2**61


class ObjectiveTooLarge(ValueError):
    """The market's ranges make the strict staffing unit overflow 64-bit integers."""


def penalty(minutes: int, step: int) -> int:
    """The convex fairness penalty: minute x of the horizon costs floor(x / step)."""
    full = minutes // step
    return step * full * (full - 1) // 2 + full * (minutes - full * step)


@dataclass
class Index:
    problem: Problem
    objective: Objective = OBJECTIVE

    def __post_init__(self) -> None:
        problem = self.problem
        self.sessions: dict[int, Session] = {s.id: s for s in problem.sessions}
        self.technologists: dict[int, Technologist] = {t.id: t for t in problem.technologists}
        self.order: list[int] = [
            s.id for s in sorted(problem.sessions, key=lambda s: (s.starts_at, s.id))
        ]
        self.pairs: dict[tuple[int, int], Pair] = {}
        by_session: dict[int, list[Pair]] = defaultdict(list)
        by_technologist: dict[int, list[Pair]] = defaultdict(list)
        for pair in sorted(problem.pairs, key=lambda p: (p.session_id, p.technologist_id)):
            if pair.session_id not in self.sessions:
                raise ValueError(f"pair for unknown session {pair.session_id}")
            if pair.technologist_id not in self.technologists:
                raise ValueError(f"pair for unknown technologist {pair.technologist_id}")
            self.pairs[pair.session_id, pair.technologist_id] = pair
            by_session[pair.session_id].append(pair)
            by_technologist[pair.technologist_id].append(pair)
        self.by_session: dict[int, list[Pair]] = dict(by_session)
        self.rank: dict[int, int] = {sid: i for i, sid in enumerate(self.order)}
        rank = self.rank
        self.by_technologist: dict[int, list[Pair]] = {
            tid: sorted(pairs, key=lambda p: rank[p.session_id])
            for tid, pairs in sorted(by_technologist.items())
        }
        self.longest = max(
            (s.ends_at - s.starts_at for s in problem.sessions), default=timedelta(0)
        )
        self.lane: dict[int, int] = {
            s.id: self.objective.lanes[s.urgency] for s in problem.sessions
        }
        self._weights()

    # --- The objective's weights ---------------------------------------------------------

    def _weights(self) -> None:
        pairs = list(self.pairs.values())
        reciprocity = [p.reciprocity for p in pairs] or [0]
        experience = [p.experience for p in pairs] or [0]
        self._r_min, self._e_min = min(reciprocity), min(experience)
        self._r_unit = _gcd(r - self._r_min for r in reciprocity)
        self._e_unit = _gcd(e - self._e_min for e in experience)
        e_levels = (max(experience) - self._e_min) // self._e_unit + 1
        r_levels = (max(reciprocity) - self._r_min) // self._r_unit + 1
        ties = self.objective.tie_break_levels
        self.w_experience = ties
        self.w_reciprocity = e_levels * ties
        # One unit of fairness penalty outweighs any difference of fit between two pairs.
        self.w_fairness = r_levels * e_levels * ties
        step = self.objective.fairness_step_minutes
        self.max_added: dict[int, int] = {}
        fairness_range = 0
        for tid, tpairs in self.by_technologist.items():
            technologist = self.technologists[tid]
            per_week: dict[date, int] = defaultdict(int)
            for pair in tpairs:
                per_week[pair.week] += self.sessions[pair.session_id].minutes
            added = sum(
                min(total, max(0, technologist.cap_left.get(week, 0)))
                for week, total in per_week.items()
            )
            self.max_added[tid] = added
            held = technologist.fortnight_minutes
            fairness_range += penalty(held + added, step) - penalty(held, step)
        fit_range = sum(max(self.fit(p) for p in ps) for ps in self.by_session.values())
        self.staffing_unit = self.w_fairness * fairness_range + fit_range + 1
        top = self.staffing_unit * sum(self.lane[sid] for sid in self.by_session) + fit_range
        if top >= OBJECTIVE_LIMIT:
            raise ObjectiveTooLarge(f"objective range {top} exceeds {OBJECTIVE_LIMIT}")

    def tie(self, pair: Pair) -> int:
        key = f"{pair.session_id}/{pair.technologist_id}".encode()
        return zlib.crc32(key) % self.objective.tie_break_levels

    def fit(self, pair: Pair) -> int:
        """Reciprocity, then experience, then the tie-break: a non-negative integer."""
        return (
            (pair.reciprocity - self._r_min) // self._r_unit * self.w_reciprocity
            + (pair.experience - self._e_min) // self._e_unit * self.w_experience
            + self.tie(pair)
        )

    def penalty(self, minutes: int) -> int:
        return penalty(minutes, self.objective.fairness_step_minutes)

    def value(self, pair: Pair) -> int:
        """What staffing this pair adds, fairness aside."""
        return self.staffing_unit * self.lane[pair.session_id] + self.fit(pair)

    # --- Clashes -------------------------------------------------------------------------

    def clash(self, a: int, b: int) -> bool:
        """Whether one technologist may not hold both sessions (overlap or rest buffer)."""
        if a == b:
            return True
        first, second = self.sessions[a], self.sessions[b]
        buffer = self.problem.rest_buffer
        return (
            first.starts_at < second.ends_at + buffer and second.starts_at < first.ends_at + buffer
        )

    def cliques(self, technologist_id: int) -> list[list[Pair]]:
        """The maximal sets of this technologist's pairs whose sessions clash pairwise (at
        least two): an interval graph's maximal cliques, by one sweep over start times."""
        buffer = self.problem.rest_buffer
        active: list[tuple[datetime, int, Pair]] = []  # (end + buffer, order, pair), sorted
        found: list[list[Pair]] = []
        growing = False
        for order, pair in enumerate(self.by_technologist.get(technologist_id, [])):
            session = self.sessions[pair.session_id]
            if active and active[0][0] <= session.starts_at:
                if growing and len(active) > 1:
                    found.append([p for _, _, p in sorted(active, key=lambda a: a[1])])
                growing = False
                while active and active[0][0] <= session.starts_at:
                    active.pop(0)
            insort(active, (session.ends_at + buffer, order, pair))
            growing = True
        if growing and len(active) > 1:
            found.append([p for _, _, p in sorted(active, key=lambda a: a[1])])
        return found


@dataclass
class State:
    """A proposal under construction: who holds what, and the minutes that follow."""

    index: Index
    holder: dict[int, int] = field(default_factory=dict)  # session → technologist
    held: dict[int, list[tuple[datetime, int]]] = field(default_factory=dict)  # by start
    minutes: dict[int, int] = field(default_factory=dict)  # over the horizon, confirmed too
    week_minutes: dict[tuple[int, date], int] = field(default_factory=dict)  # proposed only

    def total(self, technologist_id: int) -> int:
        held = self.index.technologists[technologist_id].fortnight_minutes
        return self.minutes.get(technologist_id, held)

    def clashing(self, pair: Pair) -> list[int]:
        """The sessions proposed to this pair's technologist that clash with its session."""
        index = self.index
        session = index.sessions[pair.session_id]
        held = self.held.get(pair.technologist_id, [])
        buffer = index.problem.rest_buffer
        start = bisect_left(held, (session.starts_at - index.longest - buffer, -1))
        found = []
        for starts_at, sid in held[start:]:
            if starts_at >= session.ends_at + buffer:
                break
            if sid != pair.session_id and index.clash(sid, pair.session_id):
                found.append(sid)
        return found

    def room(self, pair: Pair) -> int:
        """Minutes left under the cap in this pair's week, with the proposal's own."""
        cap = self.index.technologists[pair.technologist_id].cap_left.get(pair.week, 0)
        return cap - self.week_minutes.get((pair.technologist_id, pair.week), 0)

    def fits(self, pair: Pair) -> bool:
        minutes = self.index.sessions[pair.session_id].minutes
        return self.room(pair) >= minutes and not self.clashing(pair)

    def add(self, pair: Pair) -> None:
        index = self.index
        session = index.sessions[pair.session_id]
        tid = pair.technologist_id
        assert pair.session_id not in self.holder
        self.holder[session.id] = tid
        insort(self.held.setdefault(tid, []), (session.starts_at, session.id))
        self.minutes[tid] = self.total(tid) + session.minutes
        key = (tid, pair.week)
        self.week_minutes[key] = self.week_minutes.get(key, 0) + session.minutes

    def remove(self, session_id: int) -> None:
        index = self.index
        session = index.sessions[session_id]
        tid = self.holder.pop(session_id)
        self.held[tid].remove((session.starts_at, session_id))
        self.minutes[tid] -= session.minutes
        self.week_minutes[tid, index.pairs[session_id, tid].week] -= session.minutes

    def objective(self) -> int:
        index = self.index
        value = sum(index.value(index.pairs[sid, tid]) for sid, tid in self.holder.items())
        for tid, total in self.minutes.items():
            held = index.technologists[tid].fortnight_minutes
            value -= index.w_fairness * (index.penalty(total) - index.penalty(held))
        return value

    def fairness_cost(self, technologist_id: int, minutes: int) -> int:
        """What giving this technologist `minutes` more costs in fairness (weighted)."""
        total = self.total(technologist_id)
        index = self.index
        return index.w_fairness * (index.penalty(total + minutes) - index.penalty(total))


def _gcd(values: Iterable[int]) -> int:
    unit = 0
    for value in values:
        unit = gcd(unit, value)
    return unit or 1
