"""How good is the market-wide optimiser's proposal at its 10 s limit, and how much better than
the greedy baseline, on a market of 1,000 open postings, 2,000 technologists and 20,000
bookings over the next 14 days?

Set-up (bench/optimiser_market.py describes the market and why it is a hard one): 20
hospitals with 6 scanners each of five vendors; 1,000 open postings over 14 days needing an
exam family or two, a vendor, a minimum seniority and sometimes a language, mostly on weekday
mornings, one in seven urgent; 2,000 technologists whose seniority brings more families,
vendors and completed sessions, working three to five weekdays (some a weekend day too), with
10 bookings each in the horizon (confirmed long shifts, a pending one, closed ones), and
completed past sessions and a reciprocity ledger for the soft terms. Written with bulk_create to
a throwaway database (SQLite at bench/.data/optimiser.sqlite3, or, when DATABASE_URL names a
PostgreSQL server, the database `wescan_bench_optimiser` on it, dropped at the end) and read
back by `scheduling.optimiser.build.problem_for` for the whole network. As a cross-check, the
same description judged in Python by the same hard rules (`optimiser_market.problem_of`) must
give the same pairs (printed, not held against a target).

Measured, in this process:
1. the build of the Problem (`optimiser.build_s`: `problem_for` over the whole network);
2. `greedy`: sessions by urgency lane, then start, each to its best-scoring free pair;
3. `solve` with its default 10 s limit: objective over CP-SAT's proven bound;
4. `solve` again at 10 s: the same proposal (the search ends on CP-SAT's deterministic time
   before the wall clock unless the machine is very busy);
5. `solve` with BENCH_LONG_S (default 120 s): the 10 s objective over this one;
6. the urgency-weighted sessions staffed (urgent 4, priority 2, routine 1, the objective's
   own lane weights) by `solve` over greedy's; hours over the horizon (confirmed and
   proposed) of the technologists who qualify anywhere, max over mean, for both;
7. peak resident memory of the process.
Every proposal is checked (one technologist per session, no clash within the rest buffer, the
weekly cap, only pairs of the Problem): a wrong one fails the run.
"""

import os
import resource
import sys
import time
from datetime import UTC, datetime

from common import Bench, BenchFailure, analyze, figure, machine, run
from optimiser_market import Market, market, problem_of, seed_database

LIMIT_S = 10.0
LONG_S = float(os.environ.get("BENCH_LONG_S", "120"))
NOW = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday: the horizon is two whole weeks


def check(problem, proposal, who: str) -> None:  # type: ignore[no-untyped-def]
    """The hard rules, read off the Problem: a wrong proposal makes every figure worthless."""
    sessions = {s.id: s for s in problem.sessions}
    caps = {t.id: t.cap_left for t in problem.technologists}
    pairs = {(p.session_id, p.technologist_id): p for p in problem.pairs}
    held: dict[int, list] = {}
    week: dict[tuple, int] = {}
    for a in proposal.assignments:
        pair = pairs.get((a.session_id, a.technologist_id))
        if pair is None:
            raise BenchFailure(f"{who}: S{a.session_id}–T{a.technologist_id} is not a pair")
        session = sessions[a.session_id]
        for other in held.get(a.technologist_id, []):
            if (
                session.starts_at < other.ends_at + problem.rest_buffer
                and other.starts_at < session.ends_at + problem.rest_buffer
            ):
                raise BenchFailure(f"{who}: T{a.technologist_id} in S{session.id} and S{other.id}")
        held.setdefault(a.technologist_id, []).append(session)
        key = (a.technologist_id, pair.week)
        week[key] = week.get(key, 0) + session.minutes
        if week[key] > caps[a.technologist_id][pair.week]:
            raise BenchFailure(f"{who}: T{a.technologist_id} over the cap in {pair.week}")
    if len({a.session_id for a in proposal.assignments}) != len(proposal.assignments):
        raise BenchFailure(f"{who}: a session staffed twice")


def weighted(problem, proposal) -> int:  # type: ignore[no-untyped-def]
    from scheduling.weights import OBJECTIVE

    urgency = {s.id: s.urgency for s in problem.sessions}
    return sum(OBJECTIVE.lanes[urgency[a.session_id]] for a in proposal.assignments)


def fairness(problem, proposal) -> float:  # type: ignore[no-untyped-def]
    minutes = {t.id: t.fortnight_minutes for t in problem.technologists}
    length = {s.id: s.minutes for s in problem.sessions}
    for a in proposal.assignments:
        minutes[a.technologist_id] += length[a.session_id]
    values = list(minutes.values())
    return max(values) / (sum(values) / len(values))


def cross_check(m: Market, problem) -> str:  # type: ignore[no-untyped-def]
    """The pairs problem_for found against those the market's own rules give in Python, in
    the description's ids (postings and technologists were written in that order)."""
    from accounts.models import User
    from marketplace.models import PostingStatus, SessionPosting

    open_pks = SessionPosting.objects.filter(status=PostingStatus.OPEN).order_by("pk")
    posting_of = {pk: i + 1 for i, pk in enumerate(open_pks.values_list("pk", flat=True))}
    tech_of = {
        pk: int(email.removeprefix("tech").split("@")[0])
        for pk, email in User.objects.filter(
            email__startswith="tech", email__endswith="@optimiser.example"
        ).values_list("pk", "email")
    }
    found = {(posting_of[p.session_id], tech_of[p.technologist_id]) for p in problem.pairs}
    expected = {(p.session_id, p.technologist_id) for p in problem_of(m).pairs}
    if found == expected:
        return f"the market's own rules, judged in Python, give the same {len(found):,} pairs"
    return (
        f"the market's own rules, judged in Python, differ: {len(expected - found):,} pairs "
        f"missing from problem_for, {len(found - expected):,} more"
    )


def seed() -> Market:
    m = market(NOW)
    seed_database(m)
    analyze()
    return m


def measure(bench: Bench, m: Market) -> None:
    from scheduling.optimiser.build import problem_for
    from scheduling.optimiser.solve import greedy, solve

    started = time.perf_counter()
    problem = problem_for(hospital=None, now=NOW)
    build_s = time.perf_counter() - started
    qualified = {p.session_id for p in problem.pairs}
    print(
        f"setup: {len(m.postings):,} open postings, {len(m.techs):,} technologists, "
        f"{len(m.bookings):,} bookings over 14 days; problem_for: {len(problem.sessions):,} "
        f"sessions, {len(problem.technologists):,} technologists, {len(problem.pairs):,} pairs, "
        f"{len(problem.sessions) - len(qualified)} sessions nobody qualifies for; {machine()}"
    )
    print(f"setup: {cross_check(m, problem)}")
    base = greedy(problem)
    check(problem, base, "greedy")
    best = solve(problem, time_limit_s=LIMIT_S)
    check(problem, best, "solve")
    print(
        f"setup: solve {best.status} in {best.seconds:.1f} s, {len(best.assignments)} "
        f"staffed; greedy {len(base.assignments)} in {base.seconds:.2f} s"
    )
    again = solve(problem, time_limit_s=LIMIT_S)
    check(problem, again, "solve (again)")
    long = solve(problem, time_limit_s=LONG_S)
    check(problem, long, "solve (long)")
    print(f"setup: long solve {long.status} in {long.seconds:.1f} s")

    ratio = best.objective / best.bound
    figure("optimiser.objective_vs_bound", f"{ratio:.5f}", "ratio", ">= 0.99", ratio < 0.99)
    ratio = best.objective / max(long.objective, best.objective)
    figure(
        f"optimiser.objective_vs_{LONG_S:g}s", f"{ratio:.5f}", "ratio", ">= 0.995", ratio < 0.995
    )
    ratio = weighted(problem, best) / weighted(problem, base)
    figure("optimiser.urgent_staffed_vs_greedy", f"{ratio:.3f}", "ratio", ">= 1.03", ratio < 1.03)
    same = (again.assignments, again.unfilled) == (best.assignments, best.unfilled)
    print(f"bench: optimiser.same_proposal_twice = {'yes' if same else 'no'} (target yes)")
    if not same:
        print("MISSED: a second run proposed otherwise (a very busy machine?)")
    figure("optimiser.build_s", f"{build_s:.1f}", "s", "—")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figure("optimiser.peak_rss_mb", f"{peak:.0f}", "MB", "<= 2048", peak > 2048)
    print(
        f"bench: optimiser.fairness_max_over_mean = {fairness(problem, best):.2f} ratio "
        f"(greedy {fairness(problem, base):.2f})"
    )


if __name__ == "__main__":
    sys.exit(run("optimiser", "wescan_bench_optimiser", seed, measure))
