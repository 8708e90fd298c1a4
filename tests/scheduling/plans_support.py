"""A stand-in optimiser for the plan tests that are about everything around the solver (access,
progress, cancel, failure, sending): it proposes what the test says, through the same interface
as scheduling.optimiser (problem_for, solve with on_progress and should_stop). The tests that run
the real solver end to end are in test_plans_end_to_end.py."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from accounts.models import User
from marketplace.models import SessionPosting
from scheduling.matching import Reason
from scheduling.optimiser.problem import Problem, Session, Technologist
from scheduling.optimiser.solve import Assignment, Progress, Proposal, Unfilled
from scheduling.services import plans


@dataclass
class FakeOptimiser:
    """Proposes `proposed[posting] = technologist` (None: unfilled, "Nobody qualifies.").
    `while_solving` runs in the solver's thread after the first progress report, with
    `should_stop`: a test makes the solve wait for a cancel, or fail."""

    proposed: dict[SessionPosting, User | None]
    runner_up: User | None = None
    while_solving: Callable[[Callable[[], bool]], None] | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def problem_for(self, **kwargs: Any) -> Problem:
        self.calls.append(kwargs)
        people = {user.pk: user for user in self.proposed.values() if user is not None}
        if self.runner_up is not None:
            people[self.runner_up.pk] = self.runner_up
        return Problem(
            sessions=tuple(
                Session(
                    id=posting.pk,
                    starts_at=posting.starts_at,
                    ends_at=posting.ends_at,
                    minutes=int((posting.ends_at - posting.starts_at).total_seconds() // 60),
                    urgency=posting.urgency,
                    hospital_id=posting.hospital_id,
                    label=f"{posting.hospital.name}, {posting.scanner.name}",
                )
                for posting in sorted(self.proposed, key=lambda p: (p.starts_at, p.pk))
            ),
            technologists=tuple(
                Technologist(id=pk, name=user.display_name, cap_left={}, fortnight_minutes=0)
                for pk, user in sorted(people.items())
            ),
            pairs=(),
            rest_buffer=timedelta(minutes=30),
        )

    def solve(
        self,
        problem: Problem,
        *,
        time_limit_s: float,
        on_progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Proposal:
        assert on_progress is not None
        assert should_stop is not None
        on_progress(Progress("solving", 200, 300, time_limit_s - 1, 1))
        stopped = False
        if self.while_solving is not None:
            self.while_solving(should_stop)
            stopped = should_stop()
        assignments = tuple(
            Assignment(
                session_id=posting.pk,
                technologist_id=user.pk,
                reasons=(
                    Reason("licence", "Licence verified, valid until 2027.", 0.0),
                    Reason("fairness", "Fewer hours this fortnight (0 h).", 1.5),
                ),
                runner_up=(
                    (self.runner_up.pk, "More hours this fortnight.") if self.runner_up else None
                ),
            )
            for posting, user in self.proposed.items()
            if user is not None
        )
        unfilled = tuple(
            Unfilled(session_id=posting.pk, why="Nobody qualifies.", blockers=())
            for posting, user in self.proposed.items()
            if user is None
        )
        return Proposal(
            assignments=assignments,
            unfilled=unfilled,
            objective=300,
            bound=300,
            status="cancelled" if stopped else "optimal",
            seconds=1.0,
        )


def install(monkeypatch: pytest.MonkeyPatch, optimiser: FakeOptimiser) -> FakeOptimiser:
    monkeypatch.setattr(plans, "_problem_for", optimiser.problem_for)
    monkeypatch.setattr(plans, "_solve", optimiser.solve)
    return optimiser


def wait_until(condition: Callable[[], bool], *, polls: int = 400) -> None:
    """Until `condition()` holds (a bounded number of short waits; no time is asserted)."""
    for _ in range(polls):
        if condition():
            return
        time.sleep(0.025)  # not Event.wait: see core.threads
    raise AssertionError("the condition never held")
