"""The market-wide optimiser: one technologist per open session, the most urgent staffed first,
with OR-Tools CP-SAT; and the greedy baseline it is measured against.

The model, for a Problem (pure data, see `problem.py`):
- one Boolean per Pair (this technologist takes this session);
- at most one per session;
- for each technologist, at most one per maximal set of their sessions that pairwise overlap or
  come within the rest buffer (interval-graph cliques, found by a sweep: a handful of
  constraints per technologist instead of one per clashing couple);
- for each technologist and week, the minutes taken within what their weekly cap leaves;
- the objective of `scheduling.weights`: staffing by urgency lane (strict), then fairness (a
  convex penalty on each technologist's minutes, as linear cuts), reciprocity, experience, and a
  fixed tie-break.

The search starts from the greedy baseline (a hint) and takes the weighted objective in two
stages, which maximises exactly that objective since staffing outweighs all the rest: first the
staffing alone (on the bench's 1,000 × 2,000 market it is proven in about 3 s), then, keeping
at least that staffing, fairness and the rest. One objective holding both would span a dozen
orders of magnitude, which CP-SAT's linear relaxation handles badly. It ends with a polish:
moves that strictly improve the same objective (staff a session someone free can take; hand a
session to someone free who is better for it), until none is left. So the explanations
(`explain.py`) hold for the proposal returned, even when the time limit stopped the search
early: nobody left free could have staffed an unfilled session, and every runner-up's "why
not" is checked against the objective.

The same Problem (whatever the order of its tuples) gives the same Proposal: the model is built
in id order, the search runs on one worker with a fixed seed, and each stage ends on a budget
of CP-SAT's deterministic time (`DETERMINISTIC_PER_SECOND`) before the wall clock. Only on a
machine so busy that the wall clock ends a stage first can two runs differ; a proven optimum
is unique in practice (the tie-break).
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from ortools.sat.python import cp_model

from core.threads import join_for
from scheduling.matching import Reason
from scheduling.optimiser.index import Index, State
from scheduling.optimiser.problem import Pair, Problem

__all__ = ["Assignment", "Progress", "Proposal", "Unfilled", "greedy", "solve"]

PROGRESS_EVERY_S = 0.5
STAGE_ONE_SHARE = 0.8  # of the search time, at most; stage 2 has the rest
# CP-SAT's deterministic time allowed per second of the limit: on this project's 2-core
# machines one unit takes about a second, so the search ends on its deterministic budget (the
# same for the same problem) before the wall clock, unless the machine is very busy.
DETERMINISTIC_PER_SECOND = 0.6


@dataclass(frozen=True)
class Progress:
    phase: str  # "building" | "solving" | "explaining" | "done"
    objective: int | None  # the best proposal's so far
    bound: int | None  # what no proposal can beat, as proven so far
    seconds_left: float
    solutions: int


@dataclass(frozen=True)
class Assignment:
    session_id: int
    technologist_id: int
    reasons: tuple[Reason, ...]  # the pair's, then a fairness line
    runner_up: tuple[int, str] | None  # (technologist id, why they were not chosen)


@dataclass(frozen=True)
class Unfilled:
    session_id: int
    why: str
    blockers: tuple[int, ...]  # technologist ids named in `why`


@dataclass(frozen=True)
class Proposal:
    assignments: tuple[Assignment, ...]
    unfilled: tuple[Unfilled, ...]
    objective: int
    bound: int
    status: str  # "optimal" | "feasible" | "cancelled" | "infeasible"
    seconds: float


ProgressCallback = Callable[[Progress], None]


def solve(
    problem: Problem,
    *,
    time_limit_s: float = 10.0,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Proposal:
    """The best proposal found within `time_limit_s`.

    `workers`: CP-SAT's (default 1, which keeps the search the same from run to run; more may
    do better on idle cores, not always the same). `on_progress` and `should_stop` are called
    from this thread about twice a second; when `should_stop()` answers true the search stops
    and the best proposal so far comes back with status "cancelled" (with no assignments when
    the stop came before any)."""
    started = time.monotonic()
    deadline = started + time_limit_s

    def report(phase: str, objective: int | None = None, bound: int | None = None, n: int = 0):
        if on_progress is not None:
            left = max(0.0, deadline - time.monotonic())
            on_progress(Progress(phase, objective, bound, round(left, 1), n))

    def stopping() -> bool:
        return should_stop is not None and should_stop()

    report("building")
    if stopping():
        return Proposal((), (), 0, 0, "cancelled", time.monotonic() - started)
    index = Index(problem)
    baseline = _greedy_state(index)
    _polish(baseline)
    if stopping():
        report("explaining", baseline.objective())
        return _finish(index, baseline, None, "cancelled", started, report)
    model = _Model(index, baseline)
    report("solving", baseline.objective())

    search = _Search(model, time_limit_s=max(0.0, deadline - time.monotonic()), workers=workers)
    search.start()
    cancelled = False
    try:
        while True:
            if not cancelled and stopping():
                cancelled = True
                search.stop()
            if not search.running(PROGRESS_EVERY_S):
                break
            objective, bound, solutions = search.progress()
            report("solving", max(objective or 0, baseline.objective()), bound, solutions)
    except BaseException:
        search.stop()  # a callback failed: leave no search running behind
        raise
    status, state, bound = search.result()
    if state is None or state.objective() < baseline.objective():
        state = baseline
    _polish(state)  # at the optimum there is nothing to improve: it only checks
    return _finish(index, state, bound, "cancelled" if cancelled else status, started, report)


def greedy(problem: Problem) -> Proposal:
    """The baseline: sessions by urgency lane (most urgent first), then start; each takes the
    feasible pair with the best reciprocity + experience, ties by technologist id."""
    from scheduling.optimiser.explain import proposal_from

    started = time.monotonic()
    index = Index(problem)
    state = _greedy_state(index)
    return proposal_from(
        index,
        state,
        bound=_trivial_bound(index),
        status="feasible",
        seconds=time.monotonic() - started,
        polished=False,
    )


# --- The baseline and the polish ------------------------------------------------------------


def _greedy_state(index: Index) -> State:
    state = State(index)
    for sid in sorted(index.by_session, key=lambda s: (-index.lane[s], index.rank[s])):
        best: Pair | None = None
        for pair in index.by_session[sid]:
            if not state.fits(pair):
                continue
            if best is None or (
                pair.reciprocity + pair.experience > best.reciprocity + best.experience
            ):
                best = pair
        if best is not None:
            state.add(best)
    return state


def _polish(state: State) -> None:
    """Apply moves that strictly improve the objective until none is left: staff an unfilled
    session with the best free technologist, or hand a session to a free technologist who is
    better for it. Each move raises the objective, so this ends."""
    index = state.index
    improved = True
    while improved:
        improved = False
        for sid in index.order:
            pairs = index.by_session.get(sid)
            if not pairs:
                continue
            minutes = index.sessions[sid].minutes
            current = state.holder.get(sid)
            if current is None:
                base = 0
            else:
                held = index.pairs[sid, current]
                base = index.fit(held) - _holding_cost(state, current, minutes)
            best: tuple[int, Pair] | None = None
            for pair in pairs:
                if pair.technologist_id == current or not state.fits(pair):
                    continue
                gain = index.fit(pair) - state.fairness_cost(pair.technologist_id, minutes)
                if current is None:
                    gain += index.staffing_unit * index.lane[sid]
                if gain > base and (best is None or gain > best[0]):
                    best = (gain, pair)
            if best is not None:
                if current is not None:
                    state.remove(sid)
                state.add(best[1])
                improved = True


def _holding_cost(state: State, technologist_id: int, minutes: int) -> int:
    """What the last `minutes` this technologist holds cost in fairness (weighted)."""
    index = state.index
    total = state.total(technologist_id)
    return index.w_fairness * (index.penalty(total) - index.penalty(total - minutes))


def _trivial_bound(index: Index) -> int:
    """Every session that has a pair staffed by its best fit, no fairness cost: no proposal
    does better (greedy proves nothing tighter)."""
    return sum(max(index.value(p) for p in pairs) for pairs in index.by_session.values())


def _finish(
    index: Index,
    state: State,
    bound: int | None,
    status: str,
    started: float,
    report: Callable[..., None],
) -> Proposal:
    from scheduling.optimiser.explain import proposal_from

    objective = state.objective()
    report("explaining", objective, bound)
    proposal = proposal_from(
        index,
        state,
        bound=max(bound if bound is not None else _trivial_bound(index), objective),
        status=status,
        seconds=time.monotonic() - started,
        polished=True,
    )
    report("done", proposal.objective, proposal.bound)
    return proposal


# --- CP-SAT -------------------------------------------------------------------------------


class _Model:
    """The Booleans, the hard rules, and the objective in its two parts: staffing (by lane)
    and the rest (fairness, reciprocity, experience, tie-break), so that the search can take
    them in turn: one objective with both would span a dozen orders of magnitude, which
    CP-SAT's linear relaxation handles badly. The fairness cuts are added for the second part
    only (`add_fairness`): the first does not need them."""

    def __init__(self, index: Index, hint: State) -> None:
        self.index = index
        model = self.model = cp_model.CpModel()
        self.x: dict[tuple[int, int], cp_model.IntVar] = {}
        for key in sorted(index.pairs):
            self.x[key] = model.new_bool_var(f"x{key[0]}_{key[1]}")
        keys = list(self.x)
        variables = [self.x[key] for key in keys]
        self.staffing = cp_model.LinearExpr.weighted_sum(
            variables, [index.lane[sid] for sid, _ in keys]
        )
        self.fit = cp_model.LinearExpr.weighted_sum(
            variables, [index.fit(index.pairs[key]) for key in keys]
        )
        for sid, pairs in sorted(index.by_session.items()):
            if len(pairs) > 1:
                model.add_at_most_one(self.x[sid, p.technologist_id] for p in pairs)
        # Minutes each technologist takes over the horizon.
        self.taken: dict[int, cp_model.IntVar] = {}
        for tid, pairs in index.by_technologist.items():
            for clique in index.cliques(tid):
                model.add_at_most_one(self.x[p.session_id, tid] for p in clique)
            technologist = index.technologists[tid]
            weeks: dict[date, list[Pair]] = {}
            for pair in pairs:
                weeks.setdefault(pair.week, []).append(pair)
            for week, in_week in sorted(weeks.items()):
                cap = technologist.cap_left.get(week, 0)
                minutes = [index.sessions[p.session_id].minutes for p in in_week]
                if sum(minutes) > cap:
                    model.add(
                        cp_model.LinearExpr.weighted_sum(
                            [self.x[p.session_id, tid] for p in in_week], minutes
                        )
                        <= max(cap, 0)
                    )
            taken = self.taken[tid] = model.new_int_var(0, index.max_added[tid], f"taken{tid}")
            model.add(
                taken
                == cp_model.LinearExpr.weighted_sum(
                    [self.x[p.session_id, tid] for p in pairs],
                    [index.sessions[p.session_id].minutes for p in pairs],
                )
            )
        self.costs: dict[int, cp_model.IntVar] = {}
        self.rest: cp_model.LinearExprT = self.fit
        self.hint(hint)

    def add_fairness(self) -> None:
        """The convex penalty on each technologist's minutes, as one cut per step it can
        reach; `rest` becomes fairness plus fit."""
        index, model = self.index, self.model
        step = index.objective.fairness_step_minutes
        linear: list[tuple[int, int]] = []  # (slope, technologist) where one step covers all
        constant = 0
        for tid, taken in self.taken.items():
            held = index.technologists[tid].fortnight_minutes
            low, high = held // step, (held + index.max_added[tid]) // step
            if low == high:
                # Penalty(held + taken) - penalty(held) = low * taken on a single step.
                linear.append((low, tid))
                continue
            cost = model.new_int_var(0, index.penalty(held + index.max_added[tid]), f"fair{tid}")
            for j in range(low, high + 1):
                model.add(cost >= j * (held + taken) - step * j * (j + 1) // 2)
            self.costs[tid] = cost
            constant += index.penalty(held)
        fairness = cp_model.LinearExpr.weighted_sum(
            [self.taken[tid] for _, tid in linear] + list(self.costs.values()),
            [slope for slope, _ in linear] + [1] * len(self.costs),
        )
        self.rest = self.fit - index.w_fairness * fairness + index.w_fairness * constant

    def hint(self, state: State) -> None:
        self.model.clear_hints()
        for key, var in self.x.items():
            self.model.add_hint(var, state.holder.get(key[0]) == key[1])
        for tid, taken in self.taken.items():
            held = self.index.technologists[tid].fortnight_minutes
            self.model.add_hint(taken, state.total(tid) - held)
        for tid, cost in self.costs.items():
            self.model.add_hint(cost, self.index.penalty(state.total(tid)))

    def objective(self, value: Callable[[cp_model.LinearExprT], int]) -> int:
        """The whole objective of a solution, from the solver's values: fairness computed
        here, so that it is exact in both stages."""
        index = self.index
        fairness = 0
        for tid, taken in self.taken.items():
            held = index.technologists[tid].fortnight_minutes
            fairness += index.penalty(held + value(taken)) - index.penalty(held)
        return (
            index.staffing_unit * value(self.staffing)
            + value(self.fit)
            - index.w_fairness * fairness
        )

    def state(self, value: Callable[[cp_model.IntVar], int]) -> State:
        state = State(self.index)
        for key, var in self.x.items():
            if value(var):
                state.add(self.index.pairs[key])
        return state


class _Search:
    """CP-SAT in a thread of its own, so that the caller's thread reports and polls. Two
    stages, which is how the weighted objective is best maximised: first the staffing alone;
    then, keeping at least that staffing, fairness and the rest. Both report the whole
    objective (staffing unit × staffing + the rest)."""

    def __init__(self, model: _Model, *, time_limit_s: float, workers: int | None) -> None:
        self.model = model
        self.deadline = time.monotonic() + time_limit_s
        self.workers = workers or 1
        self._lock = threading.Lock()
        self._solver: cp_model.CpSolver | None = None
        self._stopped = False
        self._objective: int | None = None
        self._bound: int | None = None
        self._solutions = 0
        self._best: State | None = None
        self._best_objective = 0
        self._status = "feasible"
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cp-sat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def running(self, wait_s: float) -> bool:
        return join_for(self._thread, wait_s)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._solver is not None:
                self._solver.stop_search()

    def progress(self) -> tuple[int | None, int | None, int]:
        with self._lock:
            return self._objective, self._bound, self._solutions

    def result(self) -> tuple[str, State | None, int | None]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._status, self._best, self._bound

    def _run(self) -> None:
        try:
            self._stages()
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc

    def _solver_for(self, share: float) -> cp_model.CpSolver | None:
        """A solver for the next stage: `share` of the time left, on the wall clock and, for
        the same problem to get the same search whatever the machine's load, in CP-SAT's
        deterministic time (its own measure of work), which ends the search first on a
        machine that is not overloaded."""
        seconds = max(0.0, (self.deadline - time.monotonic()) * share)
        solver = cp_model.CpSolver()
        params = solver.parameters
        params.max_time_in_seconds = seconds
        params.max_deterministic_time = seconds * DETERMINISTIC_PER_SECOND
        params.num_workers = self.workers
        params.random_seed = 20_261
        # Probing in presolve takes seconds on a market of 50,000 pairs and proves nothing
        # the search does not prove faster without it.
        params.cp_model_probing_level = 0
        with self._lock:
            if self._stopped:
                return None
            self._solver = solver
        return solver

    def _stages(self) -> None:
        model, index = self.model, self.model.index
        unit = index.staffing_unit
        best_fit = sum(max(index.fit(p) for p in ps) for ps in index.by_session.values())

        # Stage 1: the most staffing by lane. The rest cannot add more than best_fit. It gets
        # most of the time: a session staffed outweighs all that stage 2 can do.
        solver = self._solver_for(STAGE_ONE_SHARE)
        if solver is None:
            return
        model.model.maximize(model.staffing)
        stage = _Callback(self, model, lambda v, b: (unit * v, unit * b + best_fit))
        solver.best_bound_callback = stage.on_bound
        status = solver.solve(model.model, stage)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            self._check(solver, status)
            return
        staffed = round(solver.objective_value)
        proven = status == cp_model.OPTIMAL
        first = model.state(solver.boolean_value)
        self._keep(first, first.objective(), unit * _floor(solver.best_objective_bound) + best_fit)

        # Stage 2: at least that staffing, the best of the rest.
        solver = self._solver_for(1.0)
        if solver is None:
            self._status = "feasible"
            return
        model.model.add(model.staffing >= staffed)
        model.add_fairness()
        model.model.maximize(model.rest)
        model.hint(first)
        top = (lambda b: unit * staffed + b) if proven else (lambda b: self._bound or 0)
        stage = _Callback(self, model, lambda v, b: (unit * staffed + v, top(b)))
        solver.best_bound_callback = stage.on_bound
        status = solver.solve(model.model, stage)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            second = model.state(solver.boolean_value)
            bound = top(_floor(solver.best_objective_bound))
            self._keep(second, second.objective(), bound)
            self._status = "optimal" if proven and status == cp_model.OPTIMAL else "feasible"
        else:
            self._check(solver, status)

    def _keep(self, state: State, objective: int, bound: int | None) -> None:
        with self._lock:
            if self._best is None or objective >= self._best_objective:
                self._best = state
                self._best_objective = objective
                self._objective = max(self._objective or objective, objective)
            if bound is not None:
                self._bound = bound if self._bound is None else min(self._bound, bound)

    @staticmethod
    def _check(solver: cp_model.CpSolver, status: cp_model.CpSolverStatus) -> None:
        if status in (cp_model.INFEASIBLE, cp_model.MODEL_INVALID):
            raise RuntimeError(f"CP-SAT: {solver.status_name(status)}")


class _Callback(cp_model.CpSolverSolutionCallback):
    """Each solution and bound of a stage, on the whole objective's scale."""

    def __init__(
        self, search: _Search, model: _Model, scale: Callable[[int, int], tuple[int, int]]
    ) -> None:
        super().__init__()
        self.search = search
        self.model = model
        self.scale = scale

    def on_solution_callback(self) -> None:
        objective = self.model.objective(self.value)
        search = self.search
        with search._lock:
            search._solutions += 1
            if search._objective is None or objective > search._objective:
                search._objective = objective

    def on_bound(self, bound: float) -> None:
        _, scaled = self.scale(0, _floor(bound))
        search = self.search
        with search._lock:
            search._bound = scaled if search._bound is None else min(search._bound, scaled)


def _floor(value: float) -> int:
    return int(value // 1) if value == value else 0
