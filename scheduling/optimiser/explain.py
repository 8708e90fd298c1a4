"""Why the proposal says what it says: for each proposed pair its reasons, its hours this
fortnight and the runner-up; for each session left open, who qualifies and what holds them.

Every sentence is read off the proposal itself, so a test (or a manager) can check it: a
technologist named as proposed elsewhere holds a clashing session in the proposal; one named at
their weekly cap has no room left for the session in that week. A row speaks for the whole
proposal, not for itself alone: its weekly-cap line counts every session the proposal gives the
technologist that week (the ranking's line counts only this one), and every figure of hours
says how much is booked already and how much the proposal adds."""

from collections import Counter
from collections.abc import Sequence

from django.utils import dateformat, formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext_lazy

from scheduling import workload
from scheduling.matching import Reason
from scheduling.optimiser.index import Index, State
from scheduling.optimiser.problem import Pair
from scheduling.optimiser.solve import Assignment, Proposal, Unfilled

__all__ = ["proposal_from"]

# Written in the language active while the plan is solved: its creator's (services.plans).
_WORDS = (
    pgettext_lazy("how many technologists", "no"),
    pgettext_lazy("how many technologists", "one"),
    pgettext_lazy("how many technologists", "two"),
    pgettext_lazy("how many technologists", "three"),
    pgettext_lazy("how many technologists", "four"),
    pgettext_lazy("how many technologists", "five"),
    pgettext_lazy("how many technologists", "six"),
    pgettext_lazy("how many technologists", "seven"),
    pgettext_lazy("how many technologists", "eight"),
    pgettext_lazy("how many technologists", "nine"),
    pgettext_lazy("how many technologists", "ten"),
)
NAMED = 3  # names (or sessions) spelt out before "and N others"
# A week by its Monday: "Mon 7 Dec" (a pattern of Django's `date` filter, each language its own).
WEEK_DAY = pgettext_lazy("a week by its Monday, Django date format", "D j M")


def proposal_from(
    index: Index, state: State, *, bound: int, status: str, seconds: float, polished: bool
) -> Proposal:
    """The Proposal for `state`, explained. `polished`: no move that strictly improves the
    objective is left (solve's proposals); the greedy baseline's are not."""
    assignments = []
    unfilled = []
    sessions_in_week = Counter(
        (tid, index.pairs[sid, tid].week) for sid, tid in state.holder.items()
    )
    for sid in index.order:
        tid = state.holder.get(sid)
        if tid is None:
            unfilled.append(_unfilled(index, state, sid))
            continue
        pair = index.pairs[sid, tid]
        runner_up = _runner_up(index, pair)
        cap = _cap_reason(index, state, pair, sessions_in_week[tid, pair.week])
        fairness = _fairness_line(index, state, pair, runner_up)
        assignments.append(
            Assignment(
                session_id=sid,
                technologist_id=tid,
                reasons=(*_with_cap(pair.reasons, cap), Reason("fairness", fairness, 0)),
                runner_up=(
                    None
                    if runner_up is None
                    else (
                        runner_up.technologist_id,
                        _why_not(index, state, runner_up, pair, polished=polished),
                    )
                ),
            )
        )
    return Proposal(
        assignments=tuple(assignments),
        unfilled=tuple(unfilled),
        objective=state.objective(),
        bound=bound,
        status=status,
        seconds=round(seconds, 3),
    )


# --- A proposed pair ------------------------------------------------------------------------


def _runner_up(index: Index, chosen: Pair) -> Pair | None:
    """The best other qualified technologist by the terms below fairness (reciprocity, then
    experience, then the tie-break), ties by id."""
    others = [
        p
        for p in index.by_session[chosen.session_id]
        if p.technologist_id != chosen.technologist_id
    ]
    if not others:
        return None
    return min(others, key=lambda p: (-index.fit(p), p.technologist_id))


def _cap_reason(index: Index, state: State, pair: Pair, sessions: int) -> Reason:
    """The weekly cap in this pair's week with the whole proposal: the confirmed minutes (what
    the cap less what it leaves) and every session proposed to the technologist that week."""
    tid, week = pair.technologist_id, pair.week
    cap = int(workload.WEEKLY_CAP_HOURS * 60)
    booked = confirmed_in_week(cap, index.technologists[tid].cap_left.get(week, 0))
    proposed = state.week_minutes.get((tid, week), 0)
    said = (
        _("%(hours)s of %(cap)s that week with this session, the proposal's only one (%(split)s) ✓")
        if sessions == 1
        else _(
            "%(hours)s of %(cap)s that week with this proposal's %(sessions)s sessions "
            "(%(split)s) ✓"
        )
    )
    text = said % {
        "hours": hours(booked + proposed),
        "cap": _decimal(workload.hours_text(workload.WEEKLY_CAP_HOURS)),
        "sessions": sessions,
        "split": split(booked, proposed),
    }
    return Reason("weekly_cap", text, 0)


def _with_cap(reasons: tuple[Reason, ...], cap: Reason) -> tuple[Reason, ...]:
    """The ranking's reasons with its weekly-cap line (this session alone) replaced, in place,
    by the proposal's; added at the end when the ranking gave none."""
    if not any(r.term == cap.term for r in reasons):
        return (*reasons, cap)
    return tuple(cap if r.term == cap.term else r for r in reasons)


def _fairness_line(index: Index, state: State, pair: Pair, runner_up: Pair | None) -> str:
    """The chosen's hours this fortnight without this session, and the runner-up's with the
    proposal when they are more: the two figures fairness compares."""
    before = _before(index, state, pair)
    figures = {"hours": hours(before), "split": _held(index, state, pair, without=True)}
    if runner_up is not None:
        theirs = state.total(runner_up.technologist_id)
        if theirs > before:
            return _(
                "%(hours)s this fortnight without this session (%(split)s), fewer than "
                "%(name)s, who would hold %(theirs)s with this proposal (%(their_split)s)"
            ) % {
                **figures,
                "name": index.technologists[runner_up.technologist_id].name,
                "theirs": hours(theirs),
                "their_split": _held(index, state, runner_up, without=False),
            }
    return _("%(hours)s this fortnight without this session (%(split)s)") % figures


def _before(index: Index, state: State, chosen: Pair) -> int:
    """The chosen technologist's minutes over the horizon, booked and proposed, but for the
    session of `chosen`."""
    return state.total(chosen.technologist_id) - index.sessions[chosen.session_id].minutes


def _held(index: Index, state: State, pair: Pair, *, without: bool) -> str:
    """ "3 h booked + 4 h proposed": the technologist's hours split, leaving out the session of
    `pair` when `without` (the chosen's)."""
    tid = pair.technologist_id
    booked = index.technologists[tid].fortnight_minutes
    total = _before(index, state, pair) if without else state.total(tid)
    return split(booked, total - booked)


def _why_not(index: Index, state: State, other: Pair, chosen: Pair, *, polished: bool) -> str:
    """One line on why `other` does not take the session `chosen` holds."""
    sid = chosen.session_id
    session = index.sessions[sid]
    clashing = state.clashing(other)
    if clashing:
        first = min(clashing, key=lambda s: (-index.lane[s], index.rank[s]))
        label = index.sessions[first].label
        if index.lane[first] > index.lane[sid]:
            return _("proposed for the more urgent session %(session)s") % {"session": label}
        return _("proposed for %(session)s, which clashes with it") % {"session": label}
    if state.room(other) < session.minutes:
        return _("at their weekly cap in the week of %(week)s") % {"week": week_label(other)}
    theirs = state.total(other.technologist_id)
    before = _before(index, state, chosen)
    if polished:
        taking = index.penalty(theirs + session.minutes) - index.penalty(theirs)
        keeping = index.penalty(before + session.minutes) - index.penalty(before)
        if taking > keeping:
            name = index.technologists[chosen.technologist_id].name
            theirs_split = _held(index, state, other, without=False)
            before_split = _held(index, state, chosen, without=True)
            return _(
                "would hold %(theirs)s this fortnight with this proposal (%(theirs_split)s), "
                "more than %(name)s's %(before)s without this session (%(before_split)s)"
            ) % {
                "theirs": hours(theirs),
                "theirs_split": theirs_split,
                "name": name,
                "before": hours(before),
                "before_split": before_split,
            }
        if other.reciprocity < chosen.reciprocity:
            return _("lower score: reciprocity %(theirs)s against %(ours)s points") % {
                "theirs": points(other.reciprocity),
                "ours": points(chosen.reciprocity),
            }
        if other.experience < chosen.experience:
            return _("lower score: experience %(theirs)s against %(ours)s points") % {
                "theirs": points(other.experience),
                "ours": points(chosen.experience),
            }
        return _("equal on every term; a fixed tie-break chose between them")
    score = other.reciprocity + other.experience
    kept = chosen.reciprocity + chosen.experience
    if score < kept:
        return _("lower score (%(score)s against %(kept)s points)") % {
            "score": points(score),
            "kept": points(kept),
        }
    return _("equal score; the baseline takes technologists in id order")


# --- A session left open --------------------------------------------------------------------


def _unfilled(index: Index, state: State, sid: int) -> Unfilled:
    pairs = index.by_session.get(sid, [])
    if not pairs:
        return Unfilled(sid, _("Nobody qualifies."), ())
    session = index.sessions[sid]
    name = {p.technologist_id: index.technologists[p.technologist_id].name for p in pairs}
    busy: list[int] = []
    sessions: list[int] = []
    capped: list[int] = []
    free: list[int] = []
    for pair in pairs:
        tid = pair.technologist_id
        clashing = state.clashing(pair)
        if clashing:
            busy.append(tid)
            sessions.extend(s for s in clashing if s not in sessions)
        elif state.room(pair) < session.minutes:
            capped.append(tid)
        else:
            free.append(tid)
    sessions.sort(key=index.rank.__getitem__)
    n = len(pairs)
    parts = []
    if busy:
        urgent = all(index.lane[s] > index.lane[sid] for s in sessions)
        labels = [index.sessions[s].label for s in sessions]
        if len(labels) == 1:
            where = (
                _("proposed for the more urgent session %(sessions)s")
                if urgent
                else _("proposed for session %(sessions)s, which clashes with it")
            )
        else:
            where = (
                _("proposed for more urgent sessions %(sessions)s")
                if urgent
                else _("proposed for sessions %(sessions)s, which clash with it")
            )
        parts.append((busy, where % {"sessions": listing(labels)}))
    if capped:
        parts.append((capped, _("at their weekly cap that week")))
    if free:
        parts.append((free, _("free to take it, but the search stopped before it could")))
    if len(parts) == 1:
        tids, predicate = parts[0]
        said = {"names": listing([name[t] for t in tids]), "predicate": predicate}
        if n == 1:
            why = _("The one who qualifies, %(names)s, is %(predicate)s.") % said
        elif tids is capped:
            why = _("All %(number)s qualified technologists, %(names)s, are %(predicate)s.") % {
                **said,
                "number": number(n),
            }
        else:
            why = _("The %(number)s who qualify, %(names)s, are %(predicate)s.") % {
                **said,
                "number": number(n),
            }
    else:
        clauses = [
            (
                _("%(names)s is %(predicate)s")
                if len(tids) == 1
                else _("%(names)s are %(predicate)s")
            )
            % {"names": listing([name[t] for t in tids]), "predicate": predicate}
            for tids, predicate in parts
        ]
        why = _("Of the %(number)s who qualify, %(clauses)s.") % {
            "number": number(n),
            "clauses": "; ".join(clauses),
        }
    return Unfilled(sid, why, tuple(busy + capped + free))


# --- Words ----------------------------------------------------------------------------------


def _decimal(figure: str) -> str:
    """A figure written with the active language's decimal mark."""
    return figure.replace(".", str(formats.get_format("DECIMAL_SEPARATOR")))


def hours(minutes: int) -> str:
    return _("%(hours)s h") % {"hours": _decimal(f"{round(minutes / 60, 1):g}")}


def split(booked: int, proposed: int) -> str:
    return _("%(booked)s booked + %(proposed)s proposed") % {
        "booked": hours(booked),
        "proposed": hours(proposed),
    }


def confirmed_in_week(cap: int, left: int) -> int:
    """Minutes confirmed in a week whose cap of `cap` minutes leaves `left`."""
    return max(0, cap - left)


def points(scaled: int) -> str:
    return _decimal(f"{scaled / 100:g}")


def number(n: int) -> str:
    return str(_WORDS[n]) if n < len(_WORDS) else str(n)


def week_label(pair: Pair) -> str:
    """'Mon 7 Dec', in the active language."""
    return dateformat.format(pair.week, str(WEEK_DAY))


def listing(items: Sequence[str]) -> str:
    """ "A", "A and B", "A, B and C", "A, B, C and 4 others"."""
    if len(items) > NAMED + 1:
        others = len(items) - NAMED
        items = [*items[:NAMED], ngettext("%(n)s other", "%(n)s others", others) % {"n": others}]
    if len(items) <= 1:
        return "".join(items)
    return _("%(first)s and %(last)s") % {"first": ", ".join(items[:-1]), "last": items[-1]}
