"""Plans around the solver: created once per scope, solved on commit, progress stored and
pushed, cancelled (queued or mid-search), failed with a message, sent row by row through
booking_invite (a row that no longer holds is reported, the others sent), and the nightly
network proposal. The solver here is a stand-in (plans_support); test_plans_end_to_end.py runs
the real one."""

import asyncio
import os
import threading
from datetime import timedelta

import pytest
from django.db import connection

from accounts.models import User
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.models import AuditEvent, Notification
from marketplace.models import SessionPosting
from scheduling import tasks
from scheduling.models import Booking, BookingStatus, Plan, PlanRow, PlanStatus, RowOutcome
from scheduling.optimiser.solve import Progress
from scheduling.services import plans
from scheduling.services.bookings import booking_invite
from tests.conftest import World, client_for
from tests.factories import UserFactory
from tests.scheduling.plans_support import FakeOptimiser, install
from tests.scheduling.support import Clock, available, confirmed, licensed, local, post


@pytest.fixture
def second(world: World, clock: Clock) -> User:
    person = UserFactory(email="second@example.org", first_name="Noor", last_name="Claes")
    licensed(person)
    available(person)
    return person


@pytest.fixture
def two_postings(world: World, clock: Clock) -> tuple[SessionPosting, SessionPosting]:
    return (
        post(world.manager, world.scanner, local(11, 30, 8)),
        post(world.manager, world.scanner, local(12, 1, 8)),
    )


def _create(actor: User, hospital, django_capture_on_commit_callbacks, **options) -> Plan:
    with django_capture_on_commit_callbacks(execute=True):
        plan, new = plans.plan_create(actor=actor, hospital=hospital, **options)
    assert new
    plan.refresh_from_db()
    return plan


def test_a_manager_plan_is_solved_on_commit_and_keeps_one_row_per_posting(
    world: World,
    tech: User,
    second: User,
    two_postings,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    first, other = two_postings
    optimiser = install(monkeypatch, FakeOptimiser({first: tech, other: None}, runner_up=second))
    plan = _create(world.manager, world.hospital, django_capture_on_commit_callbacks)
    assert plan.status == PlanStatus.DONE
    assert (plan.objective, plan.bound, plan.solver_status) == (300, 300, "optimal")
    assert plan.message == "Proposes 1 of 2 open sessions."
    assert optimiser.calls == [
        {"hospital": world.hospital, "now": plan.horizon_start, "horizon": timedelta(days=14)}
    ]
    proposed, unfilled = plan.rows.order_by("starts_at")
    assert (proposed.posting, proposed.technologist, proposed.ticked) == (first, tech, True)
    assert proposed.reasons[1] == {
        "term": "fairness",
        "text": "Fewer hours this fortnight (0 h).",
        "points": 1.5,
    }
    assert proposed.runner_up == {
        "id": second.pk,
        "name": second.display_name,
        "why": "More hours this fortnight.",
    }
    assert (unfilled.technologist, unfilled.unfilled_why, unfilled.ticked) == (
        None,
        "Nobody qualifies.",
        False,
    )
    created = AuditEvent.objects.get(action="plan.created")
    assert (created.actor, created.hospital, created.target_id) == (
        world.manager,
        world.hospital,
        str(plan.pk),
    )
    # A proposal invites nobody.
    assert not Booking.objects.exists()


def test_one_plan_per_scope_runs_at_a_time(world: World, clock: Clock) -> None:
    plan, new = plans.plan_create(actor=world.manager, hospital=world.hospital)
    again, new_again = plans.plan_create(actor=world.admin, hospital=world.hospital)
    assert (new, new_again, again.pk) == (True, False, plan.pk)
    other, other_new = plans.plan_create(actor=world.other_manager, hospital=world.other_hospital)
    network, network_new = plans.plan_create(actor=world.admin, hospital=None)
    assert other_new
    assert network_new
    assert len({plan.pk, other.pk, network.pk}) == 3


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("technologist", PermissionDenied),
        ("local_staff", PermissionDenied),
        ("other_manager", NotFound),
        ("outsider", NotFound),
    ],
)
def test_only_managers_and_admins_plan_a_hospital(world: World, clock: Clock, who, error) -> None:
    with pytest.raises(error):
        plans.plan_create(actor=getattr(world, who), hospital=world.hospital)
    assert not Plan.objects.exists()


def test_only_admins_plan_the_network(world: World, clock: Clock) -> None:
    with pytest.raises(PermissionDenied, match="platform admins"):
        plans.plan_create(actor=world.manager, hospital=None)
    plan, _ = plans.plan_create(actor=world.admin, hospital=None)
    assert plan.hospital is None
    assert plan.scope_key == "network"


@pytest.mark.parametrize(
    "options",
    [
        {"horizon_days": 0},
        {"horizon_days": 29},
        {"horizon_days": "7"},
        {"time_limit_s": 0.5},
        {"time_limit_s": 10_000},
        {"time_limit_s": float("nan")},
    ],
)
def test_bad_horizons_and_limits_are_refused(world: World, clock: Clock, options) -> None:
    with pytest.raises(ValidationFailed):
        plans.plan_create(actor=world.manager, hospital=world.hospital, **options)


def test_progress_is_stored_and_pushed_to_the_plan_viewers(
    world: World,
    tech: User,
    posting: SessionPosting,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    install(monkeypatch, FakeOptimiser({posting: tech}))
    recorded: list[dict] = []
    original = plans._progress_record

    def record(plan_id, progress) -> None:
        original(plan_id, progress)
        recorded.append(plans.plan_state(Plan.objects.get(pk=plan_id)))

    monkeypatch.setattr(plans, "_progress_record", record)
    pushed: list[dict] = []
    monkeypatch.setattr(plans, "_push", lambda plan: pushed.append(plans.plan_state(plan)))
    with django_capture_on_commit_callbacks(execute=True):
        plan, _ = plans.plan_create(actor=world.manager, hospital=world.hospital)
    assert recorded[0]["status"] == "running"
    assert (recorded[0]["phase"], recorded[0]["objective"], recorded[0]["bound"]) == (
        "solving",
        200,
        300,
    )
    assert [(state["status"], state["phase"]) for state in pushed] == [
        ("running", "building"),
        ("running", "solving"),
        ("done", "done"),
    ]
    assert pushed[1]["seconds_left"] == plan.time_limit_s - 1


def test_the_plan_says_which_open_sessions_it_leaves_as_they_are(
    world: World,
    tech: User,
    second: User,
    two_postings,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    first, invited = two_postings
    booking_invite(actor=world.manager, posting=invited, technologist=second)
    beyond = post(world.manager, world.scanner, local(12, 28, 8))  # past the 14 days
    booking_invite(actor=world.manager, posting=beyond, technologist=second)
    install(monkeypatch, FakeOptimiser({first: tech}))
    plan = _create(world.manager, world.hospital, django_capture_on_commit_callbacks)
    assert plan.message == (
        "Proposes 1 of 1 open session. 1 open session already has an invitation out or a "
        "booking and is left as it is."
    )


def test_the_solvers_last_word_neither_ends_the_plan_nor_loses_its_solutions(
    world: World, clock: Clock
) -> None:
    plan, _ = plans.plan_create(actor=world.manager, hospital=world.hospital)
    Plan.objects.filter(pk=plan.pk).update(status=PlanStatus.RUNNING)
    plans._progress_record(plan.pk, Progress("solving", 200, 300, 4.0, 3))
    plans._progress_record(plan.pk, Progress("done", 250, 300, 0.0, 0))
    plan.refresh_from_db()
    assert (plan.status, plan.phase, plan.solutions) == (PlanStatus.RUNNING, "saving", 3)
    assert plans.plan_phase_label(plan) == "Saving the proposal"


def test_cancel_while_solving_keeps_the_best_so_far(
    world: World,
    tech: User,
    posting: SessionPosting,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    def wait_for_stop(should_stop) -> None:
        from tests.scheduling.plans_support import wait_until

        wait_until(should_stop)

    install(monkeypatch, FakeOptimiser({posting: tech}, while_solving=wait_for_stop))
    original = plans._progress_record

    def press_cancel(plan_id, progress) -> None:
        """The manager presses Cancel while the bar shows the first progress."""
        original(plan_id, progress)
        plans.plan_cancel(actor=world.manager, plan=Plan.objects.get(pk=plan_id))

    monkeypatch.setattr(plans, "_progress_record", press_cancel)
    plan = _create(world.manager, world.hospital, django_capture_on_commit_callbacks)
    assert plan.status == PlanStatus.CANCELLED
    assert plan.solver_status == "cancelled"
    assert plan.message == "Stopped early: the best found so far proposes 1 of 1 open session."
    assert plan.rows.get().technologist == tech
    assert AuditEvent.objects.filter(action="plan.cancelled", actor=world.manager).count() == 1
    # What was found can still be sent.
    rows = plans.plan_send(actor=world.manager, plan=plan, row_ids=[plan.rows.get().pk])
    assert rows[0].outcome == RowOutcome.SENT


def test_cancel_before_the_solve_starts(world: World, clock: Clock, monkeypatch) -> None:
    optimiser = install(monkeypatch, FakeOptimiser({}))
    plan, _ = plans.plan_create(actor=world.manager, hospital=world.hospital)
    plans.plan_cancel(actor=world.manager, plan=plan)
    plans.plan_run(plan_id=plan.pk)  # the task, arriving late
    plan.refresh_from_db()
    assert (plan.status, plan.message) == (
        PlanStatus.CANCELLED,
        "Cancelled before the solve started.",
    )
    assert optimiser.calls == []
    with pytest.raises(Conflict, match="nothing to cancel"):
        plans.plan_cancel(actor=world.manager, plan=plan)
    # The scope is free again.
    assert plans.plan_create(actor=world.manager, hospital=world.hospital)[1]


def test_a_crashed_solve_leaves_the_plan_failed_not_running(
    world: World,
    tech: User,
    posting: SessionPosting,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    def crash(should_stop) -> None:
        raise RuntimeError("solver exploded")

    install(monkeypatch, FakeOptimiser({posting: tech}, while_solving=crash))
    plan = _create(world.manager, world.hospital, django_capture_on_commit_callbacks)
    assert plan.status == PlanStatus.FAILED
    assert plan.message == "The solve failed (RuntimeError); try again."
    assert (plan.phase, plan.seconds_left) == ("done", 0.0)  # not "building", 60 s left
    assert not plan.rows.exists()
    with pytest.raises(Conflict):
        plans.plan_send(actor=world.manager, plan=plan, row_ids=[])
    assert plans.plan_create(actor=world.manager, hospital=world.hospital)[1]


def test_cancel_while_building_never_starts_the_search(
    world: World,
    tech: User,
    posting: SessionPosting,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    optimiser = install(monkeypatch, FakeOptimiser({posting: tech}))
    searched: list[int] = []

    def build_then_cancel(**kwargs):
        problem = optimiser.problem_for(**kwargs)
        plans.plan_cancel(actor=world.manager, plan=Plan.objects.get())
        return problem

    monkeypatch.setattr(plans, "_problem_for", build_then_cancel)
    monkeypatch.setattr(plans, "_solve", lambda *args, **kwargs: searched.append(1))
    with django_capture_on_commit_callbacks(execute=True):
        plan, _ = plans.plan_create(actor=world.manager, hospital=world.hospital)
    plan.refresh_from_db()
    assert searched == []
    assert (plan.status, plan.phase, plan.message) == (
        PlanStatus.CANCELLED,
        "done",
        "Cancelled while reading the open sessions: nothing was proposed.",
    )
    assert not plan.rows.exists()


def test_the_embedded_solve_runs_in_daemon_threads(
    world: World,
    tech: User,
    posting: SessionPosting,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    """A stopping server (Ctrl-C) does not wait for a solve: its threads are daemons."""
    daemons: list[bool] = []
    ran = threading.Event()

    def the_run(*, plan_id: int) -> None:
        daemons.append(threading.current_thread().daemon)
        ran.set()

    monkeypatch.setattr(plans, "plan_run", the_run)
    monkeypatch.setattr(plans.settings, "PLAN_SOLVE_IN_BACKGROUND", True)
    plans.plan_solve_start(123)
    assert ran.wait(30)
    monkeypatch.undo()
    install(
        monkeypatch,
        FakeOptimiser(
            {posting: tech},
            while_solving=lambda stop: daemons.append(threading.current_thread().daemon),
        ),
    )
    plan = _create(world.manager, world.hospital, django_capture_on_commit_callbacks)
    assert plan.status == PlanStatus.DONE
    assert daemons == [True, True]


def test_a_solve_cut_by_the_server_stopping_is_left_to_the_sweep(
    world: World,
    clock: Clock,
    tech: User,
    posting: SessionPosting,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    def shutdown(should_stop) -> None:
        raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    install(monkeypatch, FakeOptimiser({posting: tech}, while_solving=shutdown))
    monkeypatch.setattr(plans, "_shutting_down", lambda: True)
    plan = _create(world.manager, world.hospital, django_capture_on_commit_callbacks)
    assert plan.status == PlanStatus.RUNNING  # not "The solve failed (RuntimeError)"
    later = clock.now + timedelta(seconds=plan.time_limit_s) + plans.STALE_AFTER
    assert plans.plans_fail_stale(now=later + timedelta(seconds=1)) == 1
    plan.refresh_from_db()
    assert plan.status == PlanStatus.FAILED
    assert plan.message.startswith("The server stopped during the solve")
    assert plan.message.endswith("run it again.")


def test_no_push_goes_to_a_closed_loop(
    world: World, tech: User, posting: SessionPosting, monkeypatch, caplog
) -> None:
    plan, _ = plans.plan_create(actor=world.manager, hospital=world.hospital)
    closed = asyncio.new_event_loop()
    closed.close()
    plans._pushing.loop = closed
    try:
        plans._push(plan)
    finally:
        plans._pushing.loop = None
    assert "push failed" not in caplog.text


def test_a_plan_lost_with_its_worker_is_failed_before_the_next(
    world: World, clock: Clock, monkeypatch
) -> None:
    plan, _ = plans.plan_create(actor=world.manager, hospital=world.hospital)
    Plan.objects.filter(pk=plan.pk).update(status=PlanStatus.RUNNING, started_at=clock.now)
    assert not plans.plan_create(actor=world.manager, hospital=world.hospital)[1]
    clock.now += timedelta(seconds=plan.time_limit_s) + plans.STALE_AFTER + timedelta(seconds=1)
    fresh, new = plans.plan_create(actor=world.manager, hospital=world.hospital)
    plan.refresh_from_db()
    assert new
    assert fresh.pk != plan.pk
    assert plan.status == PlanStatus.FAILED
    assert "worker was lost" in plan.message


def test_the_periodic_sweep_fails_a_lost_plan(world: World, clock: Clock) -> None:
    plan, _ = plans.plan_create(actor=world.manager, hospital=world.hospital)
    assert tasks.plan_fail_stale(now=clock.now) == 0
    later = clock.now + timedelta(seconds=plan.time_limit_s) + plans.STALE_AFTER
    assert tasks.plan_fail_stale(now=later + timedelta(seconds=1)) == 1
    plan.refresh_from_db()
    assert plan.status == PlanStatus.FAILED


def test_send_reports_the_row_that_no_longer_holds_and_sends_the_others(
    world: World,
    tech: User,
    second: User,
    two_postings,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    first, other = two_postings
    install(monkeypatch, FakeOptimiser({first: tech, other: second}))
    plan = _create(world.manager, world.hospital, django_capture_on_commit_callbacks)
    # After the proposal: Noor is booked elsewhere over the second session.
    elsewhere = post(world.other_manager, world.other_scanner, local(12, 1, 9))
    confirmed(world.other_manager, elsewhere, second)
    rows = {row.posting_id: row for row in plan.rows.all()}
    with django_capture_on_commit_callbacks(execute=True):
        result = plans.plan_send(
            actor=world.manager, plan=plan, row_ids=[rows[first.pk].pk, rows[other.pk].pk]
        )
    by_posting = {row.posting_id: row for row in result}
    sent, stale = by_posting[first.pk], by_posting[other.pk]
    assert sent.outcome == RowOutcome.SENT
    assert sent.booking is not None
    assert sent.booking.status == BookingStatus.PENDING
    assert sent.outcome_message == f"Invitation sent to {tech.display_name}."
    assert stale.outcome == RowOutcome.STALE
    assert stale.outcome_message.startswith("No longer holds: ")
    assert "already booked" in stale.outcome_message
    assert not Booking.objects.filter(posting=other).exists()
    plan.refresh_from_db()
    assert (plan.status, plan.sent_by, plan.message) == (
        PlanStatus.SENT,
        world.manager,
        "1 invitation sent; 1 no longer held.",
    )
    assert Notification.objects.filter(recipient=tech, kind="booking.invited").count() == 1
    assert not Notification.objects.filter(
        recipient=second, kind="booking.invited", message__contains=world.hospital.name
    ).exists()
    event = AuditEvent.objects.get(action="plan.sent")
    assert event.data == {"sent": 1, "no_longer_holds": 1, "unticked": 0}
    with pytest.raises(Conflict, match="already sent"):
        plans.plan_send(actor=world.manager, plan=plan, row_ids=[rows[first.pk].pk])


def test_each_row_is_sent_in_a_short_transaction_of_its_own(
    world: World,
    tech: User,
    second: User,
    two_postings,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    """A send of thousands of rows must not hold the write lock for all of them: each row's
    invitation runs in exactly one transaction level above the caller's, the plan claimed
    (`sending`) and committed before."""
    install(monkeypatch, FakeOptimiser({two_postings[0]: tech, two_postings[1]: second}))
    plan = _create(world.manager, world.hospital, django_capture_on_commit_callbacks)
    seen: list[tuple[int, str]] = []
    real = plans.booking_invite

    def watched(**kwargs):
        seen.append(
            (len(connection.atomic_blocks), Plan.objects.values_list("status", flat=True).get())
        )
        return real(**kwargs)

    monkeypatch.setattr(plans, "booking_invite", watched)
    outside = len(connection.atomic_blocks)
    plans.plan_send(
        actor=world.manager, plan=plan, row_ids=list(plan.rows.values_list("pk", flat=True))
    )
    assert seen == [(outside + 1, PlanStatus.SENDING)] * 2
    plan.refresh_from_db()
    assert (plan.status, plan.message) == (PlanStatus.SENT, "2 invitations sent.")


def test_a_plan_being_sent_is_not_sent_twice(
    world: World, tech: User, two_postings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    install(monkeypatch, FakeOptimiser({two_postings[0]: tech}))
    plan = _create(world.manager, world.hospital, django_capture_on_commit_callbacks)
    Plan.objects.filter(pk=plan.pk).update(status=PlanStatus.SENDING)
    row = plan.rows.get(posting=two_postings[0])
    with pytest.raises(Conflict, match="being sent"):
        plans.plan_send(actor=world.manager, plan=plan, row_ids=[row.pk])
    answer = client_for(world.manager).post(
        f"/api/v1/plans/{plan.pk}/send/", {"rows": [row.pk]}, content_type="application/json"
    )
    assert answer.status_code == 409
    assert not Booking.objects.exists()


def test_a_send_that_breaks_midway_records_what_went_out(
    world: World,
    tech: User,
    second: User,
    two_postings,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    first, other = two_postings
    install(monkeypatch, FakeOptimiser({first: tech, other: second}))
    plan = _create(world.manager, world.hospital, django_capture_on_commit_callbacks)
    real = plans.booking_invite
    calls: list[int] = []

    def breaks_on_the_second(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the process is going down")
        return real(**kwargs)

    monkeypatch.setattr(plans, "booking_invite", breaks_on_the_second)
    with pytest.raises(RuntimeError):
        plans.plan_send(
            actor=world.manager, plan=plan, row_ids=list(plan.rows.values_list("pk", flat=True))
        )
    went, broke = plan.rows.get(posting=first), plan.rows.get(posting=other)
    assert went.outcome == RowOutcome.SENT
    assert went.booking is not None
    assert (broke.outcome, broke.booking) == ("", None)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.SENT
    assert plan.message.startswith("1 invitation sent. The send stopped on an error (RuntimeError)")


def test_an_unticked_row_is_not_invited(
    world: World,
    tech: User,
    second: User,
    two_postings,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    first, other = two_postings
    install(monkeypatch, FakeOptimiser({first: tech, other: second}))
    plan = _create(world.manager, world.hospital, django_capture_on_commit_callbacks)
    keep = plan.rows.get(posting=first)
    plans.plan_send(actor=world.manager, plan=plan, row_ids=[keep.pk])
    assert list(Booking.objects.values_list("technologist", flat=True)) == [tech.pk]
    dropped = plan.rows.get(posting=other)
    assert (dropped.ticked, dropped.outcome, dropped.booking) == (False, "", None)


def test_send_refuses_rows_it_cannot_send(
    world: World, tech: User, two_postings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    first, other = two_postings
    install(monkeypatch, FakeOptimiser({first: tech, other: None}))
    plan = _create(world.manager, world.hospital, django_capture_on_commit_callbacks)
    nobody = plan.rows.get(posting=other)
    foreign = PlanRow.objects.exclude(plan=plan).first()
    assert foreign is None
    with pytest.raises(ValidationFailed, match="proposes nobody"):
        plans.plan_send(actor=world.manager, plan=plan, row_ids=[nobody.pk])
    with pytest.raises(ValidationFailed, match="Not rows of this plan"):
        plans.plan_send(actor=world.manager, plan=plan, row_ids=[nobody.pk + 1000])
    with pytest.raises(ValidationFailed, match="at least one"):
        plans.plan_send(actor=world.manager, plan=plan, row_ids=[])
    with pytest.raises(ValidationFailed, match="at most"):
        plans.plan_send(
            actor=world.manager, plan=plan, row_ids=list(range(1, plans.MAX_SEND_ROWS + 2))
        )
    with pytest.raises(NotFound):
        plans.plan_send(actor=world.other_manager, plan=plan, row_ids=[])
    plan.refresh_from_db()
    assert plan.status == PlanStatus.DONE
    assert not Booking.objects.exists()


def test_the_nightly_job_proposes_for_the_network_and_sends_nothing(
    world: World,
    tech: User,
    posting: SessionPosting,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    optimiser = install(monkeypatch, FakeOptimiser({posting: tech}))
    with django_capture_on_commit_callbacks(execute=True):
        plan_id = tasks.plan_network_nightly(now=local(11, 24, 3))
    plan = Plan.objects.get(pk=plan_id)
    assert (plan.hospital, plan.created_by, plan.status) == (None, None, PlanStatus.DONE)
    assert optimiser.calls[0]["hospital"] is None
    assert plan.rows.get().technologist == tech
    assert not Booking.objects.exists()
    assert list(plans.plans_visible_to(world.admin)) == [plan]
    assert list(plans.plans_visible_to(world.manager)) == []
    with pytest.raises(NotFound):
        plans.access_plan(world.manager, plan.pk)
    event = AuditEvent.objects.get(action="plan.created")
    assert event.actor is None
    assert event.data["scope"] == "network"


def test_a_doubled_nightly_run_makes_one_plan(world: World, clock: Clock) -> None:
    first = tasks.plan_network_nightly(now=clock.now)
    assert tasks.plan_network_nightly(now=clock.now) == first
    assert Plan.objects.count() == 1


def test_a_forked_server_solves_its_own_plans(monkeypatch) -> None:
    """The embedded solver's worker thread is not inherited by a forked process (a server a
    test starts, a pre-forking server): the child starts its own and its plans are solved,
    where the parent's waiter on the inherited queue used to swallow the first one."""
    ran = threading.Event()
    monkeypatch.setattr(plans, "_run_in_background", lambda plan_id: ran.set())
    plans._background_submit(1, None)
    assert ran.wait(30)  # the parent's worker now waits on its queue
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through its exit code)
        solved = threading.Event()
        plans._run_in_background = lambda plan_id: solved.set()  # type: ignore[assignment]
        plans._background_submit(2, None)
        os._exit(0 if solved.wait(10) else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
