"""Problems for the optimiser's tests, built by hand (no database), and the checks that a
proposal keeps the hard rules and tells the truth."""

import random
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from scheduling import workload
from scheduling.matching import Reason
from scheduling.optimiser.index import Index, State
from scheduling.optimiser.problem import Pair, Problem, Session, Technologist
from scheduling.optimiser.solve import Proposal

MONDAY = date(2026, 12, 7)
CAP = workload.hours_text(workload.WEEKLY_CAP_HOURS)  # "38"
BUFFER = timedelta(minutes=30)


def at(day: int, hour: float) -> datetime:
    """Day 0 is Monday 7 December 2026, UTC."""
    return datetime(2026, 12, 7, tzinfo=UTC) + timedelta(days=day, hours=hour)


def session(
    sid: int, day: int, start: float, end: float, urgency: str = "routine", hospital: int = 1
) -> Session:
    starts_at, ends_at = at(day, start), at(day, end)
    return Session(
        id=sid,
        starts_at=starts_at,
        ends_at=ends_at,
        minutes=int((ends_at - starts_at).total_seconds() // 60),
        urgency=urgency,
        hospital_id=hospital,
        label=f"S{sid}",
    )


def technologist(
    tid: int, name: str, *, cap_h: float = 38, held_h: float = 0, weeks: int = 2
) -> Technologist:
    return Technologist(
        id=tid,
        name=name,
        cap_left={MONDAY + timedelta(weeks=w): int(cap_h * 60) for w in range(weeks)},
        fortnight_minutes=int(held_h * 60),
    )


def pair(s: Session, tid: int, reciprocity: int = 0, experience: int = 0) -> Pair:
    week = s.starts_at.date() - timedelta(days=s.starts_at.weekday())
    return Pair(
        session_id=s.id,
        technologist_id=tid,
        week=week,
        reciprocity=reciprocity,
        experience=experience,
        reasons=(Reason("licence", "licence ✓", 0),),
    )


def problem(
    sessions: list[Session], technologists: list[Technologist], pairs: list[Pair]
) -> Problem:
    """The Problem, each pair with the ranking's weekly-cap line (this session alone, over what
    the technologist has confirmed that week), as `problem_for` gives it."""
    minutes = {s.id: s.minutes for s in sessions}
    people = {t.id: t for t in technologists}
    pairs = [
        replace(q, reasons=(*q.reasons, _ranking_cap(people[q.technologist_id], q, minutes)))
        if q.technologist_id in people and q.session_id in minutes
        else q
        for q in pairs
    ]
    return Problem(
        sessions=tuple(sorted(sessions, key=lambda s: (s.starts_at, s.id))),
        technologists=tuple(sorted(technologists, key=lambda t: t.id)),
        pairs=tuple(sorted(pairs, key=lambda p: (p.session_id, p.technologist_id))),
        rest_buffer=BUFFER,
    )


def _ranking_cap(person: Technologist, q: Pair, minutes: dict[int, int]) -> Reason:
    held = confirmed(person, q.week) + minutes[q.session_id]
    return Reason("weekly_cap", f"{held / 60:g} h of {CAP} that week with this session ✓", 0)


def confirmed(person: Technologist, week: date) -> int:
    """Minutes confirmed that week: the cap less what it leaves (cap_left)."""
    return max(0, int(workload.WEEKLY_CAP_HOURS * 60) - person.cap_left.get(week, 0))


def market(seed: int, sessions: int = 60, technologists: int = 20, days: int = 14) -> Problem:
    """A random market with scarce technologists: sessions of 2–8 h on the day, each with a
    handful of qualified people among those who share its vendor."""
    rng = random.Random(seed)
    made = []
    for sid in range(1, sessions + 1):
        day = rng.randrange(days)
        start = rng.choice([7, 8, 9, 12, 13, 14])
        made.append(
            session(
                sid,
                day,
                start,
                start + rng.choice([2, 3, 4, 4, 6, 8]),
                rng.choice(["routine"] * 5 + ["priority"] * 3 + ["urgent"] * 2),
                rng.randrange(1, 6),
            )
        )
    people = [
        technologist(
            tid, f"T{tid}", cap_h=rng.choice([8, 12, 20, 30]), held_h=rng.choice([0, 4, 10, 20])
        )
        for tid in range(1, technologists + 1)
    ]
    vendor = {t.id: {rng.randrange(3), rng.randrange(3)} for t in people}
    pairs = []
    for s in made:
        v = s.id % 3
        for t in people:
            if v in vendor[t.id] and rng.random() < 0.5:
                pairs.append(pair(s, t.id, rng.randrange(-4, 5) * 50, rng.randrange(0, 10) * 200))
    return problem(made, people, pairs)


def shuffled(p: Problem, seed: int) -> Problem:
    rng = random.Random(seed)
    parts = [list(p.sessions), list(p.technologists), list(p.pairs)]
    for part in parts:
        rng.shuffle(part)
    return replace(
        p, sessions=tuple(parts[0]), technologists=tuple(parts[1]), pairs=tuple(parts[2])
    )


def state_of(p: Problem, proposal: Proposal) -> State:
    index = Index(p)
    state = State(index)
    for a in proposal.assignments:
        state.add(index.pairs[a.session_id, a.technologist_id])
    return state


def assert_feasible(p: Problem, proposal: Proposal) -> None:
    """Every assignment is a Pair of the problem; one technologist per session; nobody in two
    sessions closer than the rest buffer; nobody over what their weekly cap leaves."""
    sessions = {s.id: s for s in p.sessions}
    people = {t.id: t for t in p.technologists}
    pairs = {(q.session_id, q.technologist_id): q for q in p.pairs}
    staffed = [a.session_id for a in proposal.assignments]
    assert len(staffed) == len(set(staffed))
    assert set(staffed) | {u.session_id for u in proposal.unfilled} == set(sessions)
    assert not set(staffed) & {u.session_id for u in proposal.unfilled}
    by_person: dict[int, list[Session]] = {}
    week_minutes: dict[tuple[int, date], int] = {}
    for a in proposal.assignments:
        q = pairs[a.session_id, a.technologist_id]  # KeyError: not a pair of the problem
        s = sessions[a.session_id]
        by_person.setdefault(a.technologist_id, []).append(s)
        key = (a.technologist_id, q.week)
        week_minutes[key] = week_minutes.get(key, 0) + s.minutes
    for tid, held in by_person.items():
        for i, first in enumerate(held):
            for second in held[i + 1 :]:
                apart = (
                    second.starts_at >= first.ends_at + p.rest_buffer
                    or first.starts_at >= second.ends_at + p.rest_buffer
                )
                assert apart, f"T{tid} holds S{first.id} and S{second.id}"
    for (tid, week), minutes in week_minutes.items():
        assert minutes <= people[tid].cap_left[week], f"T{tid} over the cap in {week}"


def assert_unfilled_true(p: Problem, proposal: Proposal) -> None:
    """Each open session's named blockers are all who qualify, and each is indeed proposed for
    a clashing session or has no room left under the cap that week."""
    state = state_of(p, proposal)
    index = state.index
    for u in proposal.unfilled:
        qualified = [q.technologist_id for q in index.by_session.get(u.session_id, [])]
        if not qualified:
            assert u.why == "Nobody qualifies."
            assert u.blockers == ()
            continue
        assert sorted(u.blockers) == qualified
        for tid in u.blockers:
            q = index.pairs[u.session_id, tid]
            busy = state.clashing(q)
            full = state.room(q) < index.sessions[u.session_id].minutes
            assert busy or full, f"T{tid} is free for S{u.session_id}: {u.why}"
            if busy and "more urgent" in u.why and "; " not in u.why:
                assert all(index.lane[s] > index.lane[u.session_id] for s in busy)


def assert_runner_ups_true(p: Problem, proposal: Proposal) -> None:
    """Each runner-up is another qualified technologist, and why they were not chosen holds in
    the proposal: proposed for a clashing session, no room under the cap that week, more hours
    this fortnight (each figure, booked and proposed, as the proposal counts it), or a lower
    score."""
    state = state_of(p, proposal)
    index = state.index
    for a in proposal.assignments:
        if a.runner_up is None:
            assert len(index.by_session[a.session_id]) == 1
            continue
        tid, why = a.runner_up
        assert tid != a.technologist_id
        other = index.pairs[a.session_id, tid]
        chosen = index.pairs[a.session_id, a.technologist_id]
        minutes = index.sessions[a.session_id].minutes
        if why.startswith("proposed for"):
            busy = state.clashing(other)
            assert busy
            if "more urgent" in why:
                assert any(index.lane[s] > index.lane[a.session_id] for s in busy)
        elif why.startswith("at their weekly cap"):
            assert state.room(other) < minutes
        elif why.startswith("would hold"):
            assert state.total(tid) > state.total(a.technologist_id) - minutes
            assert_more_hours_true(p, proposal, a.session_id, tid, why)
        elif why.startswith("lower score: reciprocity"):
            assert other.reciprocity < chosen.reciprocity
        elif why.startswith("lower score: experience"):
            assert other.reciprocity == chosen.reciprocity
            assert other.experience < chosen.experience
        else:
            assert why.startswith("equal on every term"), why
            assert (other.reciprocity, other.experience) == (chosen.reciprocity, chosen.experience)


# --- The figures in the words ------------------------------------------------------------------

_H = r"(\d+(?:\.\d)?) h"
_SPLIT = rf"\({_H} booked \+ {_H} proposed\)"
CAP_LINE = re.compile(
    rf"{_H} of {CAP} that week with "
    rf"(?:this session, the proposal's only one|this proposal's (\d+) sessions) {_SPLIT} ✓"
)
FAIRNESS_LINE = re.compile(
    rf"{_H} this fortnight without this session {_SPLIT}"
    rf"(?:, fewer than (.+), who would hold {_H} with this proposal {_SPLIT})?"
)
MORE_HOURS = re.compile(
    rf"would hold {_H} this fortnight with this proposal {_SPLIT}, "
    rf"more than (.+)'s {_H} without this session {_SPLIT}"
)


def assert_hours(shown: tuple[str, ...], minutes: tuple[int, ...], text: str) -> None:
    """Each figure shown (hours, to a tenth) is the count of minutes it stands for."""
    assert len(shown) == len(minutes)
    for figure, count in zip(shown, minutes, strict=True):
        assert abs(float(figure) * 60 - count) <= 3, f"{figure} h for {count} min: {text}"


class Held:
    """What the proposal gives each technologist, counted from its assignments alone."""

    def __init__(self, p: Problem, proposal: Proposal) -> None:
        self.sessions = {s.id: s for s in p.sessions}
        self.people = {t.id: t for t in p.technologists}
        self.pairs = {(q.session_id, q.technologist_id): q for q in p.pairs}
        self.holder = {a.session_id: a.technologist_id for a in proposal.assignments}

    def proposed(self, tid: int, week: date | None = None) -> list[int]:
        """The sessions proposed to `tid` (in `week`, the pair's, when given)."""
        return [
            sid
            for sid, holder in self.holder.items()
            if holder == tid and (week is None or self.pairs[sid, tid].week == week)
        ]

    def minutes(self, sids: list[int]) -> int:
        return sum(self.sessions[sid].minutes for sid in sids)

    def split(self, tid: int, *, without: int | None = None) -> tuple[int, int, int]:
        """(total, booked, proposed) minutes over the horizon, leaving out session `without`."""
        booked = self.people[tid].fortnight_minutes
        proposed = self.minutes([s for s in self.proposed(tid) if s != without])
        return booked + proposed, booked, proposed


def assert_reasons_true(p: Problem, proposal: Proposal) -> None:
    """Each assignment's reasons are the ranking's, but for the weekly-cap line, which counts
    every session the proposal gives the technologist that week on top of what they have
    confirmed, and a last fairness line whose hours (booked, proposed) and comparison with the
    runner-up are those of the proposal."""
    held = Held(p, proposal)
    for a in proposal.assignments:
        tid, sid = a.technologist_id, a.session_id
        q = held.pairs[sid, tid]
        *reasons, fairness = a.reasons
        assert fairness.term == "fairness"
        assert [r.term for r in reasons] == [r.term for r in q.reasons]
        for mine, ranking in zip(reasons, q.reasons, strict=True):
            assert mine == ranking or mine.term == "weekly_cap"
        (cap,) = [r for r in reasons if r.term == "weekly_cap"]
        assert cap.points == 0
        match = CAP_LINE.fullmatch(cap.text)
        assert match, cap.text
        total, count, booked, proposed = match.groups()
        week = held.proposed(tid, q.week)
        assert sid in week
        assert int(count or 1) == len(week), cap.text
        booked_m = confirmed(held.people[tid], q.week)
        proposed_m = held.minutes(week)
        assert booked_m + proposed_m <= int(workload.WEEKLY_CAP_HOURS * 60)
        assert_hours(
            (total, booked, proposed), (booked_m + proposed_m, booked_m, proposed_m), cap.text
        )
        match = FAIRNESS_LINE.fullmatch(fairness.text)
        assert match, fairness.text
        before, booked, proposed, name, theirs, their_booked, their_proposed = match.groups()
        mine_m = held.split(tid, without=sid)
        assert_hours((before, booked, proposed), mine_m, fairness.text)
        theirs_m = None if a.runner_up is None else held.split(a.runner_up[0])
        if theirs_m is not None and theirs_m[0] > mine_m[0]:
            assert a.runner_up is not None
            assert name == held.people[a.runner_up[0]].name, fairness.text
            assert_hours((theirs, their_booked, their_proposed), theirs_m, fairness.text)
        else:
            assert name is None, fairness.text


def assert_more_hours_true(p: Problem, proposal: Proposal, sid: int, other: int, why: str) -> None:
    """A runner-up's "would hold more hours": their hours with the proposal (booked, proposed)
    against the chosen's without this session, each as counted from the proposal."""
    held = Held(p, proposal)
    chosen = held.holder[sid]
    match = MORE_HOURS.fullmatch(why)
    assert match, why
    theirs, booked, proposed, name, before, chosen_booked, chosen_proposed = match.groups()
    theirs_m, before_m = held.split(other), held.split(chosen, without=sid)
    assert theirs_m[0] > before_m[0], why
    assert name == held.people[chosen].name, why
    assert_hours((theirs, booked, proposed), theirs_m, why)
    assert_hours((before, chosen_booked, chosen_proposed), before_m, why)
