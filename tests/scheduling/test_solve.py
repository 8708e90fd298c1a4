"""The market-wide optimiser on Problems built by hand: the hard rules hold, the objective is
lexicographic, the explanations are true, the same market gives the same proposal, and a
cancel stops the search. No database: the optimiser is pure."""

import random
import threading
import time

import pytest

from scheduling.optimiser.index import Index
from scheduling.optimiser.solve import Progress, Proposal, greedy, solve
from tests.scheduling.optimiser_support import (
    MONDAY,
    assert_feasible,
    assert_reasons_true,
    assert_runner_ups_true,
    assert_unfilled_true,
    market,
    pair,
    problem,
    session,
    shuffled,
    technologist,
)


def holders(proposal: Proposal) -> dict[int, int]:
    return {a.session_id: a.technologist_id for a in proposal.assignments}


def why(proposal: Proposal, session_id: int) -> str:
    return next(u.why for u in proposal.unfilled if u.session_id == session_id)


def lane_weighted(proposal: Proposal, p) -> int:
    index = Index(p)
    return sum(index.lane[a.session_id] for a in proposal.assignments)


# --- Hard rules -------------------------------------------------------------------------------


def test_one_technologist_per_session_and_never_two_overlapping_sessions():
    a, b = session(1, 0, 8, 12, "urgent"), session(2, 0, 10, 14, "routine")
    p = problem([a, b], [technologist(1, "Ana")], [pair(a, 1), pair(b, 1)])

    proposal = solve(p)

    assert holders(proposal) == {1: 1}
    assert (
        why(proposal, 2)
        == "The one who qualifies, Ana, is proposed for the more urgent session S1."
    )
    assert proposal.status == "optimal"
    assert_feasible(p, proposal)
    assert_unfilled_true(p, proposal)


@pytest.mark.parametrize(
    ("gap_minutes", "both"),
    [(0, False), (29, False), (30, True), (60, True)],
)
def test_the_rest_buffer_separates_two_sessions_of_one_technologist(gap_minutes, both):
    first = session(1, 0, 8, 12)
    start = 12 + gap_minutes / 60
    second = session(2, 0, start, start + 2)
    p = problem([first, second], [technologist(1, "Ana")], [pair(first, 1), pair(second, 1)])

    proposal = solve(p)

    assert len(proposal.assignments) == (2 if both else 1)
    assert_feasible(p, proposal)


def test_the_weekly_cap_left_bounds_the_minutes_proposed_in_that_week():
    sessions = [session(i, i, 8, 10) for i in range(1, 4)]  # 2 h each, Tue–Thu
    p = problem(sessions, [technologist(1, "Ana", cap_h=5)], [pair(s, 1) for s in sessions])

    proposal = solve(p)

    assert len(proposal.assignments) == 2
    (unfilled,) = proposal.unfilled
    assert unfilled.why == "The one who qualifies, Ana, is at their weekly cap that week."
    assert unfilled.blockers == (1,)
    assert_feasible(p, proposal)
    assert_unfilled_true(p, proposal)


def test_the_cap_is_kept_per_week_of_the_pair():
    this_week, next_week = session(1, 1, 8, 12), session(2, 8, 8, 12)
    ana = technologist(1, "Ana", cap_h=4)
    p = problem([this_week, next_week], [ana], [pair(this_week, 1), pair(next_week, 1)])

    assert len(solve(p).assignments) == 2


def test_only_pairs_of_the_problem_are_proposed():
    """Confirmed bookings and pending invitations are outside the Problem (their postings are
    not sessions, their clashes are not pairs): whatever is proposed is a pair of it, so
    nothing frozen is moved."""
    p = market(7, sessions=40, technologists=15)

    proposal = solve(p)

    pairs = {(q.session_id, q.technologist_id) for q in p.pairs}
    assert {(a.session_id, a.technologist_id) for a in proposal.assignments} <= pairs
    assert {a.session_id for a in proposal.assignments} | {
        u.session_id for u in proposal.unfilled
    } == {s.id for s in p.sessions}


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_random_markets_keep_every_rule_and_every_unfilled_reason_is_true(seed):
    p = market(seed, sessions=40, technologists=8)

    proposal = solve(p)

    assert_feasible(p, proposal)
    assert_unfilled_true(p, proposal)
    assert_runner_ups_true(p, proposal)
    assert_reasons_true(p, proposal)
    assert proposal.objective <= proposal.bound
    if proposal.status == "optimal":  # the objective counted here is CP-SAT's
        assert proposal.objective == proposal.bound
    base = greedy(p)
    assert_feasible(p, base)
    assert_unfilled_true(p, base)
    assert_reasons_true(p, base)
    assert proposal.objective >= base.objective


# --- The objective ---------------------------------------------------------------------------


def test_one_more_urgent_session_beats_any_fairness():
    """Ana already holds 60 h, Ben none. Fairness alone would give S1 to Ben, but only Ben can
    take S2 (at the same time), so Ana takes S1."""
    s1, s2 = session(1, 0, 8, 12, "urgent"), session(2, 0, 8, 12, "urgent")
    p = problem(
        [s1, s2],
        [technologist(1, "Ana", held_h=60, cap_h=60), technologist(2, "Ben")],
        [pair(s1, 1), pair(s1, 2), pair(s2, 2)],
    )

    assert holders(solve(p)) == {1: 1, 2: 2}


def test_one_more_routine_session_beats_reciprocity_and_experience():
    s1, s2 = session(1, 0, 8, 12), session(2, 0, 8, 12)
    p = problem(
        [s1, s2],
        [technologist(1, "Ana"), technologist(2, "Ben")],
        [pair(s1, 1, reciprocity=2000, experience=4000), pair(s1, 2), pair(s2, 1)],
    )

    assert holders(solve(p)) == {1: 2, 2: 1}


def test_an_urgent_session_beats_two_routine_ones_only_by_its_lane_weight():
    """Urgent counts 4, routine 1: one urgent beats three routine sessions."""
    urgent = session(1, 0, 8, 16, "urgent")
    routine = [session(i, 0, 8 + 3 * (i - 2), 10 + 3 * (i - 2)) for i in (2, 3, 4)]
    p = problem(
        [urgent, *routine],
        [technologist(1, "Ana")],
        [pair(urgent, 1), *(pair(r, 1) for r in routine)],
    )

    assert holders(solve(p)) == {1: 1}


def test_fairness_gives_the_session_to_whoever_holds_fewer_hours():
    s1 = session(1, 0, 8, 12)
    p = problem(
        [s1],
        [technologist(1, "Ana", held_h=20), technologist(2, "Ben", held_h=12)],
        [pair(s1, 1, reciprocity=2000, experience=4000), pair(s1, 2)],
    )

    proposal = solve(p)

    (assignment,) = proposal.assignments
    assert assignment.technologist_id == 2
    assert assignment.reasons[-1].term == "fairness"
    assert assignment.reasons[-1].text == (
        "12 h this fortnight without this session (12 h booked + 0 h proposed), "
        "fewer than Ana, who would hold 20 h with this proposal (20 h booked + 0 h proposed)"
    )
    assert assignment.runner_up == (
        1,
        "would hold 20 h this fortnight with this proposal (20 h booked + 0 h proposed), "
        "more than Ben's 12 h without this session (12 h booked + 0 h proposed)",
    )
    assert_reasons_true(p, proposal)
    assert_runner_ups_true(p, proposal)


def test_hours_the_proposal_gives_are_told_apart_from_hours_booked():
    """Sofia has nothing booked but the proposal gives her two 4 h sessions that only she can
    take; Ana has 3 h booked. Wednesday's session goes to Ana, and both lines say that Sofia's
    8 h are the proposal's."""
    monday, tuesday = session(1, 0, 8, 12), session(2, 1, 8, 12)
    wednesday = session(3, 2, 8, 12)
    p = problem(
        [monday, tuesday, wednesday],
        [technologist(1, "Sofia Rossi"), technologist(2, "Ana Lima", held_h=3)],
        [
            pair(monday, 1),
            pair(tuesday, 1),
            pair(wednesday, 1, experience=4000),
            pair(wednesday, 2),
        ],
    )

    proposal = solve(p)

    assert holders(proposal) == {1: 1, 2: 1, 3: 2}
    (ana,) = [a for a in proposal.assignments if a.session_id == 3]
    assert ana.reasons[-1].text == (
        "3 h this fortnight without this session (3 h booked + 0 h proposed), fewer than "
        "Sofia Rossi, who would hold 8 h with this proposal (0 h booked + 8 h proposed)"
    )
    assert ana.runner_up == (
        1,
        "would hold 8 h this fortnight with this proposal (0 h booked + 8 h proposed), "
        "more than Ana Lima's 3 h without this session (3 h booked + 0 h proposed)",
    )
    assert_reasons_true(p, proposal)
    assert_runner_ups_true(p, proposal)


def test_the_weekly_cap_line_counts_every_session_proposed_that_week():
    """Ana has 3 h confirmed each week; the proposal gives her sessions of 3, 3 and 4 h in the
    first week and one of 4 h in the second. Each row of the first week says 13 h, not the 6 h
    or 7 h its session alone would make."""
    first = [session(1, 0, 8, 11), session(2, 1, 8, 11), session(3, 2, 8, 12)]
    second = session(4, 7, 8, 12)
    p = problem(
        [*first, second],
        [technologist(1, "Ana", cap_h=35)],
        [pair(s, 1) for s in [*first, second]],
    )

    proposal = solve(p)

    caps = {
        a.session_id: next(r for r in a.reasons if r.term == "weekly_cap")
        for a in proposal.assignments
    }
    assert holders(proposal) == {1: 1, 2: 1, 3: 1, 4: 1}
    for sid in (1, 2, 3):
        assert caps[sid].text == (
            "13 h of 38 that week with this proposal's 3 sessions (3 h booked + 10 h proposed) ✓"
        )
        assert caps[sid].points == 0
    assert caps[4].text == (
        "7 h of 38 that week with this session, the proposal's only one "
        "(3 h booked + 4 h proposed) ✓"
    )
    # In place of the ranking's line, which spoke for the session alone.
    assert [r.term for r in proposal.assignments[0].reasons] == [
        "licence",
        "weekly_cap",
        "fairness",
    ]
    assert_reasons_true(p, proposal)


def test_at_equal_hours_reciprocity_comes_before_experience():
    s1 = session(1, 0, 8, 12)
    p = problem(
        [s1],
        [technologist(1, "Ana"), technologist(2, "Ben")],
        [pair(s1, 1, reciprocity=0, experience=4000), pair(s1, 2, reciprocity=50)],
    )

    proposal = solve(p)

    assert holders(proposal) == {1: 2}
    assert proposal.assignments[0].runner_up == (
        1,
        "lower score: reciprocity 0 against 0.5 points",
    )


def test_the_runner_up_proposed_for_a_more_urgent_session_says_so():
    routine, urgent = session(1, 0, 8, 12), session(2, 0, 9, 11, "urgent")
    p = problem(
        [routine, urgent],
        [technologist(1, "Ana"), technologist(2, "Ben")],
        [pair(routine, 1, experience=4000), pair(routine, 2), pair(urgent, 1)],
    )

    proposal = solve(p)

    assert holders(proposal) == {1: 2, 2: 1}
    runner_up = next(a.runner_up for a in proposal.assignments if a.session_id == 1)
    assert runner_up == (1, "proposed for the more urgent session S2")


def test_the_runner_up_at_their_weekly_cap_says_which_week():
    s1, s2 = session(1, 0, 8, 12), session(2, 2, 8, 12)
    p = problem(
        [s1, s2],
        [technologist(1, "Ana", cap_h=4), technologist(2, "Ben")],
        [pair(s1, 1, experience=4000), pair(s1, 2), pair(s2, 1)],
    )

    proposal = solve(p)

    runner_ups = {a.session_id: a.runner_up for a in proposal.assignments}
    assert MONDAY.isoformat() == "2026-12-07"
    assert (1, "at their weekly cap in the week of Mon 7 Dec") in runner_ups.values()


# --- Why a session stays open --------------------------------------------------------------


def test_nobody_qualifies():
    s1 = session(1, 0, 8, 12)
    p = problem([s1], [technologist(1, "Ana")], [])

    proposal = solve(p)

    assert proposal.unfilled[0].why == "Nobody qualifies."
    assert proposal.unfilled[0].blockers == ()


def test_the_two_who_qualify_are_proposed_for_more_urgent_sessions():
    routine = session(1, 0, 8, 12)
    x, y = session(2, 0, 8, 12, "urgent"), session(3, 0, 10, 14, "priority")
    p = problem(
        [routine, x, y],
        [technologist(1, "Ana"), technologist(2, "Ben")],
        [pair(routine, 1), pair(routine, 2), pair(x, 1), pair(y, 2)],
    )

    proposal = solve(p)

    assert why(proposal, 1) == (
        "The two who qualify, Ana and Ben, are proposed for more urgent sessions S2 and S3."
    )
    assert_unfilled_true(p, proposal)


def test_clashing_sessions_of_the_same_lane_are_not_called_more_urgent():
    s1, s2 = session(1, 0, 8, 12), session(2, 0, 9, 12)
    p = problem([s1, s2], [technologist(1, "Ana")], [pair(s1, 1), pair(s2, 1, experience=200)])

    proposal = solve(p)

    assert holders(proposal) == {2: 1}
    assert (
        why(proposal, 1)
        == "The one who qualifies, Ana, is proposed for session S2, which clashes with it."
    )


def test_all_qualified_at_their_weekly_cap():
    """Each of three fills their 4 h left with an urgent session of their own; the routine
    session on Wednesday, which clashes with none of them, finds all three at their cap."""
    own = [session(t, t - 1, 8, 12, "urgent") for t in (1, 2, 3)]  # Mon, Tue, Wed mornings
    routine = session(4, 2, 14, 18)
    people = [technologist(t, n, cap_h=4) for t, n in ((1, "Ana"), (2, "Ben"), (3, "Cy"))]
    p = problem(
        [*own, routine],
        people,
        [pair(s, s.id) for s in own] + [pair(routine, t) for t in (1, 2, 3)],
    )

    proposal = solve(p)

    assert holders(proposal) == {1: 1, 2: 2, 3: 3}
    assert why(proposal, 4) == (
        "All three qualified technologists, Ana, Ben and Cy, are at their weekly cap that week."
    )
    assert proposal.unfilled[0].blockers == (1, 2, 3)
    assert_unfilled_true(p, proposal)


def test_a_mix_of_clash_and_cap_names_each():
    urgent = session(1, 0, 8, 12, "urgent")
    other = session(2, 1, 8, 12, "urgent")
    routine = session(3, 0, 9, 11)
    p = problem(
        [urgent, other, routine],
        [technologist(1, "Ana"), technologist(2, "Ben", cap_h=4)],
        [pair(urgent, 1), pair(other, 2), pair(routine, 1), pair(routine, 2)],
    )

    proposal = solve(p)

    assert why(proposal, 3) == (
        "Of the two who qualify, Ana is proposed for the more urgent session S1; "
        "Ben is at their weekly cap that week."
    )
    assert_unfilled_true(p, proposal)


# --- The baseline --------------------------------------------------------------------------


def test_greedy_staffs_fewer_urgent_sessions_than_the_optimiser():
    """Greedy gives the first urgent session to its best scorer, Ana, who was the only one for
    the second; the optimiser gives the first to Ben."""
    u1, u2 = session(1, 0, 8, 12, "urgent"), session(2, 0, 9, 13, "urgent")
    p = problem(
        [u1, u2],
        [technologist(1, "Ana"), technologist(2, "Ben")],
        [pair(u1, 1, experience=4000), pair(u1, 2), pair(u2, 1)],
    )

    base, best = greedy(p), solve(p)

    assert holders(base) == {1: 1}
    assert (
        why(base, 2)
        == "The one who qualifies, Ana, is proposed for session S1, which clashes with it."
    )
    assert holders(best) == {1: 2, 2: 1}
    assert lane_weighted(best, p) > lane_weighted(base, p)


# --- Determinism, progress, cancel -------------------------------------------------------------


def test_the_same_market_gives_the_same_proposal_whatever_the_order_of_its_tuples():
    p = market(11, sessions=40, technologists=15)

    first = solve(p)
    again = solve(p)
    reordered = solve(shuffled(p, 5))

    assert first.status == "optimal"
    for other in (again, reordered):
        assert other.assignments == first.assignments
        assert other.unfilled == first.unfilled
        assert other.objective == first.objective


def test_progress_reports_each_phase_in_order():
    seen: list[Progress] = []

    solve(market(4, sessions=30, technologists=12), on_progress=seen.append)

    phases = [p.phase for p in seen]
    assert phases[0] == "building"
    assert phases[-2:] == ["explaining", "done"]
    assert "solving" in phases
    assert phases.index("solving") < phases.index("explaining")
    assert seen[-1].objective is not None
    assert seen[-1].objective <= seen[-1].bound


def test_a_stop_asked_from_the_start_returns_at_once_cancelled():
    started = time.monotonic()

    proposal = solve(market(5, sessions=60, technologists=20), should_stop=lambda: True)

    assert proposal.status == "cancelled"
    assert proposal.assignments == ()
    assert time.monotonic() - started < 5  # not the 10 s limit; generous for a loaded CI


def test_a_stop_during_the_search_returns_the_best_so_far_cancelled():
    p = market(6, sessions=60, technologists=20)
    polls = iter([False, False, False])

    proposal = solve(p, should_stop=lambda: next(polls, True))

    assert proposal.status == "cancelled"
    assert proposal.assignments  # the baseline at least
    assert_feasible(p, proposal)
    assert_unfilled_true(p, proposal)


def test_progress_and_stop_are_called_from_the_callers_thread():
    threads = set()

    def on_progress(progress: Progress) -> None:
        threads.add(threading.get_ident())

    def should_stop() -> bool:
        threads.add(threading.get_ident())
        return False

    solve(market(8, sessions=20, technologists=8), on_progress=on_progress, should_stop=should_stop)

    assert threads == {threading.get_ident()}


def test_an_empty_market_is_solved_at_once():
    proposal = solve(problem([], [], []))

    assert proposal.assignments == proposal.unfilled == ()
    assert proposal.status == "optimal"


# --- The model's pieces ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_the_sweep_finds_exactly_the_maximal_cliques_of_clashing_sessions(seed):
    """Every two clashing sessions of a technologist share a clique, every clique clashes
    pairwise, and none is contained in another."""
    rng = random.Random(seed)
    sessions = []
    for sid in range(1, 30):
        start = rng.choice([7, 7.5, 8, 9, 11.5, 12, 12.25, 13, 16])
        sessions.append(session(sid, rng.randrange(3), start, start + rng.choice([1, 2, 3, 4])))
    p = problem(sessions, [technologist(1, "Ana")], [pair(s, 1) for s in sessions])
    index = Index(p)

    cliques = [frozenset(q.session_id for q in c) for c in index.cliques(1)]

    for clique in cliques:
        assert all(index.clash(a, b) for a in clique for b in clique)
        assert not any(clique < other for other in cliques)
    ids = [s.id for s in sessions]
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            if index.clash(a, b):
                assert any({a, b} <= clique for clique in cliques), (a, b)
    assert len(set(cliques)) == len(cliques)
