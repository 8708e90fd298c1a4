"""The market-wide optimiser around its solver: plans made, watched, cancelled and sent.

`plan_create` queues a plan; once its transaction commits the solve starts (a Celery task in
production, a background thread in the embedded mode: never in a request). `plan_run` claims it,
builds the Problem (`scheduling.optimiser.build.problem_for`) and solves it
(`scheduling.optimiser.solve.solve`) in a thread of its own, while this thread stores the
solver's progress (at most every PROGRESS_EVERY_S) and pushes it to the plan's viewers, and asks
the solver to stop once someone cancelled; then it stores one row per posting. A solve that
raises leaves the plan failed, with a message, never running. `plan_send` invites each ticked
row's technologist through `booking_invite`, each row its own short transaction: a row that no
longer holds (the posting was booked or cancelled, the technologist got busy) says why, and the
others are sent.

Who may do what is one rule (`plan_access_check`): a hospital's plans are its managers' (and
platform admins'), the network's plans are platform admins'. Everyone else gets what the rest of
the site gives them: 404 for what they may not see, 403 for a role that may not act.
"""

import asyncio
import logging
import os
import queue
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Greatest
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy

from accounts.language import language_of
from accounts.models import User
from core.audit import audit_record
from core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from core.groups import plan_group
from core.ids import as_id
from core.threads import join_for
from marketplace.access import access_hospital, hospitals_managed_by
from marketplace.models import Hospital, PostingStatus, SessionPosting
from scheduling.models import (
    ACTIVE_PLAN_STATUSES,
    LIVE_STATUSES,
    Plan,
    PlanRow,
    PlanStatus,
    RowOutcome,
)
from scheduling.optimiser.build import problem_for
from scheduling.optimiser.problem import Problem
from scheduling.optimiser.solve import Progress, Proposal, solve
from scheduling.services.bookings import booking_invite

logger = logging.getLogger(__name__)

__all__ = [
    "HORIZON_DAYS_DEFAULT",
    "HORIZON_DAYS_MAX",
    "MAX_SEND_ROWS",
    "access_plan",
    "plan_cancel",
    "plan_create",
    "plan_create_nightly",
    "plan_rows",
    "plan_run",
    "plan_send",
    "plan_state",
    "plans_fail_stale",
    "plans_visible_to",
]

HORIZON_DAYS_DEFAULT = 14
HORIZON_DAYS_MAX = 28
MIN_TIME_LIMIT_S = 1.0
# How often the progress is stored and pushed, and the cancel flag read, while the solver runs.
PROGRESS_EVERY_S = 0.5
# A push to the server's loop waits no longer than this (the loop may be stopping).
PUSH_TIMEOUT_S = 5.0
# A plan still queued or running this long past its time limit was lost with its worker.
STALE_AFTER = timedelta(minutes=10)
# Rows one send may name: a network plan over 14 days holds about a thousand postings.
MAX_SEND_ROWS = 2000

# Closed plans: what each status means to the person reading it.
SENDABLE_STATUSES = (PlanStatus.DONE, PlanStatus.CANCELLED)


def scope_key(hospital: Hospital | None) -> str:
    return "network" if hospital is None else f"hospital:{hospital.pk}"


# --- Who may see and act on a plan (one rule) ----------------------------------------------------


def plan_access_check(user: User, *, hospital_id: int | None) -> None:
    """May `user` run, watch, cancel and send plans of this scope? A hospital's: its managers
    and platform admins (404 for those who do not see the hospital, 403 for its other members).
    The network's: platform admins only (404 for everyone else: it is not their business)."""
    if hospital_id is None:
        if not (user.is_authenticated and user.is_staff):
            raise NotFound(_("No such plan."))
        return
    access_hospital(user, hospital_id, manage=True)


def plan_may_create_network(user: User) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def access_plan(user: User, plan_id: int | str) -> Plan:
    plan = (
        Plan.objects.select_related("hospital", "created_by")
        .filter(pk=as_id(plan_id, message=_("No such plan.")))
        .first()
    )
    if plan is None:
        raise NotFound(_("No such plan."))
    try:
        plan_access_check(user, hospital_id=plan.hospital_id)
    except NotFound:
        raise NotFound(_("No such plan.")) from None
    return plan


def plans_visible_to(user: User) -> QuerySet[Plan]:
    """The plans a person may open, newest first: their managed hospitals'; admins every plan."""
    plans = Plan.objects.select_related("hospital", "created_by")
    if user.is_staff:
        return plans.all()
    return plans.filter(hospital__in=hospitals_managed_by(user))


# --- Creating one ------------------------------------------------------------------------------


def _horizon_days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(_("The horizon is a whole number of days."))
    if not 1 <= value <= HORIZON_DAYS_MAX:
        message = _("The horizon is from 1 to %(most)s days; %(value)s is not.") % {
            "most": HORIZON_DAYS_MAX,
            "value": value,
        }
        raise ValidationFailed(message, fields={"horizon_days": [message]})
    return value


def _time_limit(value: Any) -> float:
    if value is None:
        return float(settings.OPTIMISER_TIME_LIMIT_S)
    top = float(settings.OPTIMISER_MAX_TIME_LIMIT_S)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValidationFailed(_("The time limit is a number of seconds."))
    if not MIN_TIME_LIMIT_S <= value <= top:
        message = _("The time limit is from %(least)s to %(most)s seconds.") % {
            "least": f"{MIN_TIME_LIMIT_S:g}",
            "most": f"{top:g}",
        }
        raise ValidationFailed(message, fields={"time_limit_s": [message]})
    return float(value)


def plan_create(
    *,
    actor: User,
    hospital: Hospital | None,
    horizon_days: int = HORIZON_DAYS_DEFAULT,
    time_limit_s: float | None = None,
    now: datetime | None = None,
) -> tuple[Plan, bool]:
    """Queue a plan for `hospital` (its managers: "Fill my open sessions") or, with None, for
    the whole network (platform admins: "Fill the network"). A scope has one plan queued or
    running at a time: asking again answers that one. Returns (plan, whether it is new)."""
    if hospital is None:
        if not plan_may_create_network(actor):
            raise PermissionDenied(_("Only platform admins may fill the whole network."))
    else:
        plan_access_check(actor, hospital_id=hospital.pk)
    return _create(
        actor=actor,
        hospital=hospital,
        horizon_days=_horizon_days(horizon_days),
        time_limit_s=_time_limit(time_limit_s),
        now=now or timezone.now(),
    )


def plan_create_nightly(*, now: datetime | None = None) -> tuple[Plan, bool]:
    """The nightly job's network plan: a proposal for admins to review, never sent by itself."""
    return _create(
        actor=None,
        hospital=None,
        horizon_days=HORIZON_DAYS_DEFAULT,
        time_limit_s=float(settings.OPTIMISER_TIME_LIMIT_S),
        now=now or timezone.now(),
    )


@transaction.atomic
def _create(
    *,
    actor: User | None,
    hospital: Hospital | None,
    horizon_days: int,
    time_limit_s: float,
    now: datetime,
) -> tuple[Plan, bool]:
    key = scope_key(hospital)
    plans_fail_stale(now=now)
    running = Plan.objects.filter(scope_key=key, status__in=ACTIVE_PLAN_STATUSES).first()
    if running is not None:
        return running, False
    plan = Plan(
        hospital=hospital,
        scope_key=key,
        created_by=actor,
        horizon_start=now,
        horizon_end=now + timedelta(days=horizon_days),
        time_limit_s=time_limit_s,
        phase="queued",
    )
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError:  # another request queued one for this scope a moment ago
        return Plan.objects.get(scope_key=key, status__in=ACTIVE_PLAN_STATUSES), False
    audit_record(
        actor=actor,
        action="plan.created",
        target=plan,
        hospital=hospital,
        data={"scope": key, "horizon_days": horizon_days, "time_limit_s": time_limit_s},
    )
    plan_id = plan.pk
    transaction.on_commit(lambda: plan_solve_start(plan_id), robust=True)
    return plan, True


def plan_solve_start(plan_id: int) -> None:
    """After commit: the solve, off the request. Production: a Celery task. The embedded mode
    (eager Celery would run it here): one background daemon thread, plans one after another."""
    if settings.PLAN_SOLVE_IN_BACKGROUND:
        # The progress pushes go to the server's loop, where the in-memory channel layer's
        # queues live (None outside a server: each push runs a loop of its own).
        _background_submit(plan_id, _server_loop())
        return
    from scheduling.tasks import plan_solve

    plan_solve.delay(plan_id)


# The embedded mode's solver: one daemon thread (never joined at exit, so that Ctrl-C stops the
# server at once; a plan it was solving is left to the stale sweep), fed by a queue.
_queue: "queue.Queue[tuple[int, asyncio.AbstractEventLoop | None]]" = queue.Queue()
_worker: threading.Thread | None = None
_worker_lock = threading.Lock()
# The loop that the current thread's progress pushes go to (the background worker's).
_pushing = threading.local()


def _forget_worker_after_fork() -> None:
    """A forked process (a server started by a test, a pre-forking server) has no worker
    thread, but would inherit the queue with the parent's worker waiting on it: the first plan
    put there would wake that waiter, who does not exist here, and wait for ever. A fresh queue
    and worker for the child."""
    global _queue, _worker, _worker_lock
    _queue = queue.Queue()
    _worker = None
    _worker_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_worker_after_fork)


def _background_submit(plan_id: int, loop: asyncio.AbstractEventLoop | None) -> None:
    global _worker
    with _worker_lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_background_work, name="plan-solve", daemon=True)
            _worker.start()
        _queue.put((plan_id, loop))


def plans_waiting() -> list[int]:
    """The plans queued for the embedded mode's solver, in order (a snapshot)."""
    with _queue.mutex:
        return [plan_id for plan_id, _loop in _queue.queue]


def _background_work() -> None:
    while True:
        plan_id, loop = _queue.get()
        _pushing.loop = loop
        try:
            _run_in_background(plan_id)
        finally:
            _pushing.loop = None
            _queue.task_done()


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The server's event loop, when this sync code runs for it (a view under Daphne)."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    return loop if loop is not None and loop.is_running() else None


def _run_in_background(plan_id: int) -> None:
    try:
        plan_run(plan_id=plan_id)
    except Exception:
        logger.exception("plan %s: the background solve failed", plan_id)
    finally:
        connections.close_all()


def plans_fail_stale(*, now: datetime) -> int:
    """Plans still queued or running well past their time limit were lost with their worker (a
    restart, a killed process): failed, so that the scope can be planned again."""
    stale = [
        plan
        for plan in Plan.objects.filter(status__in=ACTIVE_PLAN_STATUSES)
        if (plan.started_at or plan.created_at) + timedelta(seconds=plan.time_limit_s) + STALE_AFTER
        < now
    ]
    for plan in stale:
        _finish_failed(
            plan.pk,
            "The server stopped during the solve (or its worker was lost); run it again.",
        )
    return len(stale)


# --- Running the solve -------------------------------------------------------------------------


def plan_run(*, plan_id: int) -> None:
    """Claim a queued plan and solve it. Safe to run twice: a plan no longer queued is left
    alone. Any error ends the plan failed with a message."""
    with transaction.atomic():
        plan = (
            Plan.objects.select_for_update(of=("self",))
            .select_related("hospital")
            .filter(pk=plan_id)
            .first()
        )
        if plan is None or plan.status != PlanStatus.QUEUED:
            return
        plan.status = PlanStatus.RUNNING
        plan.phase = "building"
        plan.seconds_left = plan.time_limit_s
        plan.started_at = timezone.now()
        plan.save(update_fields=["status", "phase", "seconds_left", "started_at", "updated_at"])
    _push(plan)
    try:
        problem = _problem_for(
            hospital=plan.hospital,
            now=plan.horizon_start,
            horizon=plan.horizon_end - plan.horizon_start,
        )
        if _cancel_requested(plan.pk):  # pressed while the market was read: no search at all
            _finish_cancelled_unsolved(plan.pk)
            return
        # Its reasons are written once, in the language of whoever asked for it (a network
        # plan, asked for by nobody: the site's).
        with translation.override(_plan_language(plan)):
            proposal = _solve_watched(plan, problem)
            _store(plan.pk, problem, proposal)
    except Exception as error:
        if _shutting_down():
            # The server is stopping (Ctrl-C): the plan is left running, and the stale sweep
            # tells its viewers the server stopped; the database may be gone already.
            logger.warning("plan %s: the server stopped during the solve", plan_id)
            return
        logger.exception("plan %s: the solve failed", plan_id)
        _finish_failed(plan_id, f"The solve failed ({type(error).__name__}); try again.")


def _plan_language(plan: Plan) -> str:
    creator = User.objects.filter(pk=plan.created_by_id).first() if plan.created_by_id else None
    return language_of(creator) if creator is not None else settings.LANGUAGE_CODE


def _shutting_down() -> bool:
    """Is the interpreter on its way out (the main thread over, or finalising)?"""
    return sys.is_finalizing() or not threading.main_thread().is_alive()


def _finish_cancelled_unsolved(plan_id: int) -> None:
    with transaction.atomic():
        plan = Plan.objects.select_for_update(of=("self",)).filter(pk=plan_id).first()
        if plan is None or plan.status != PlanStatus.RUNNING:
            return
        plan.status = PlanStatus.CANCELLED
        plan.phase = "done"
        plan.seconds_left = 0.0
        plan.finished_at = timezone.now()
        plan.message = "Cancelled while reading the open sessions: nothing was proposed."
        plan.save(
            update_fields=[
                "status",
                "phase",
                "seconds_left",
                "finished_at",
                "message",
                "updated_at",
            ]
        )
        transaction.on_commit(lambda: _push(plan), robust=True)


@dataclass
class _Watch:
    """Shared between the solver's thread (which reports) and the plan's (which stores)."""

    stop: threading.Event
    lock: threading.Lock
    latest: Progress | None = None

    def progress(self, progress: Progress) -> None:
        with self.lock:
            self.latest = progress

    def take(self) -> Progress | None:
        with self.lock:
            latest, self.latest = self.latest, None
        return latest


# Named here so that tests can stand in for the market and the search.
_problem_for = problem_for
_solve = solve


def _solve_watched(plan: Plan, problem: Problem) -> Proposal:
    """The solve in a daemon thread of its own (a server stopping does not wait for it), while
    this thread stores its progress and passes on a cancel."""
    watch = _Watch(stop=threading.Event(), lock=threading.Lock())
    outcome: dict[str, Any] = {}
    language = translation.get_language() or settings.LANGUAGE_CODE  # per thread: passed on

    def search() -> None:
        try:
            with translation.override(language):
                outcome["proposal"] = _solve(
                    problem,
                    time_limit_s=plan.time_limit_s,
                    on_progress=watch.progress,
                    should_stop=watch.stop.is_set,
                )
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=search, name=f"plan-{plan.pk}", daemon=True)
    thread.start()
    while True:
        over = not join_for(thread, PROGRESS_EVERY_S)
        progress = watch.take()
        if progress is not None:
            _progress_record(plan.pk, progress)
        if over:
            break
        if not watch.stop.is_set() and _cancel_requested(plan.pk):
            watch.stop.set()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["proposal"]


def _cancel_requested(plan_id: int) -> bool:
    return Plan.objects.filter(pk=plan_id, cancel_requested=True).exists()


def _progress_record(plan_id: int, progress: Progress) -> None:
    """Store and push the solver's latest word (the plan's viewers see it live)."""
    # The solver's "done" is not the plan's: its rows are still to be stored.
    phase = "saving" if progress.phase == "done" else progress.phase[:16]
    Plan.objects.filter(pk=plan_id, status=PlanStatus.RUNNING).update(
        phase=phase,
        objective=progress.objective,
        bound=progress.bound,
        seconds_left=max(0.0, progress.seconds_left),
        # Solutions found only grow (the solver's last word may not count them).
        solutions=Greatest(F("solutions"), progress.solutions),
        updated_at=timezone.now(),
    )
    plan = Plan.objects.filter(pk=plan_id).first()
    if plan is not None:
        _push(plan)


@transaction.atomic
def _store(plan_id: int, problem: Problem, proposal: Proposal) -> None:
    plan = Plan.objects.select_for_update(of=("self",)).get(pk=plan_id)
    if plan.status != PlanStatus.RUNNING:
        return  # failed as stale meanwhile: its scope may already be planned again
    sessions = {session.id: session for session in problem.sessions}
    names = {person.id: person.name for person in problem.technologists}
    rows: dict[int, PlanRow] = {}
    for assignment in proposal.assignments:
        runner_up = None
        if assignment.runner_up is not None:
            runner_id, why = assignment.runner_up
            runner_up = {"id": runner_id, "name": names.get(runner_id, ""), "why": why}
        rows[assignment.session_id] = PlanRow(
            technologist_id=assignment.technologist_id,
            reasons=[
                {"term": reason.term, "text": str(reason.text), "points": reason.points}
                for reason in assignment.reasons
            ],
            runner_up=runner_up,
        )
    for unfilled in proposal.unfilled:
        rows.setdefault(
            unfilled.session_id,
            PlanRow(unfilled_why=unfilled.why, blockers=list(unfilled.blockers), ticked=False),
        )
    for session_id, session in sessions.items():
        row = rows.setdefault(
            session_id, PlanRow(unfilled_why="Not proposed by the solver.", ticked=False)
        )
        row.plan = plan
        row.posting_id = session.id
        row.starts_at = session.starts_at
        row.ends_at = session.ends_at
        row.urgency = session.urgency
        row.label = session.label[:300]
    PlanRow.objects.bulk_create([rows[session_id] for session_id in sessions])
    stopped = plan.cancel_requested or proposal.status == "cancelled"
    plan.status = PlanStatus.CANCELLED if stopped else PlanStatus.DONE
    plan.phase = "done"
    plan.objective = proposal.objective
    plan.bound = proposal.bound
    plan.solver_status = proposal.status[:16]
    plan.solve_seconds = proposal.seconds
    plan.seconds_left = 0.0
    plan.finished_at = timezone.now()
    proposed = len(proposal.assignments)
    plan.message = (
        f"{'Stopped early: the best found so far proposes' if stopped else 'Proposes'} "
        f"{proposed} of {len(sessions)} open session{'s' if len(sessions) != 1 else ''}."
    )
    held = _held_count(plan)
    if held:
        plan.message += (
            f" {held} open session{'s' if held != 1 else ''} already "
            f"{'have' if held != 1 else 'has'} an invitation out or a booking and "
            f"{'are' if held != 1 else 'is'} left as {'they are' if held != 1 else 'it is'}."
        )
    plan.save()
    transaction.on_commit(lambda: _push(plan), robust=True)


def _held_count(plan: Plan) -> int:
    """Open postings of the plan's scope and horizon that it leaves alone: they have a pending
    invitation or a confirmed booking (never moved), so they are not among its sessions."""
    postings = SessionPosting.objects.filter(
        status=PostingStatus.OPEN,
        starts_at__gt=plan.horizon_start,
        starts_at__lte=plan.horizon_end,
        bookings__status__in=LIVE_STATUSES,
    )
    if plan.hospital_id is not None:
        postings = postings.filter(hospital_id=plan.hospital_id)
    return postings.distinct().count()


def _finish_failed(plan_id: int, message: str) -> None:
    with transaction.atomic():
        plan = Plan.objects.select_for_update(of=("self",)).filter(pk=plan_id).first()
        if plan is None or plan.status not in ACTIVE_PLAN_STATUSES:
            return
        plan.status = PlanStatus.FAILED
        plan.phase = "done"
        plan.seconds_left = 0.0
        plan.message = message
        plan.finished_at = timezone.now()
        plan.save(
            update_fields=[
                "status",
                "phase",
                "seconds_left",
                "message",
                "finished_at",
                "updated_at",
            ]
        )
        audit_record(
            actor=None,
            action="plan.failed",
            target=plan,
            hospital=plan.hospital,
            data={"message": message},
        )
        transaction.on_commit(lambda: _push(plan), robust=True)


# --- Cancelling, sending -----------------------------------------------------------------------


@transaction.atomic
def plan_cancel(*, actor: User, plan: Plan) -> Plan:
    """Stop a plan: a queued one is cancelled at once; a running one is asked to stop (the
    solver answers with the best it found so far, which stays to be reviewed)."""
    plan = _locked(plan)
    plan_access_check(actor, hospital_id=plan.hospital_id)
    if plan.status == PlanStatus.QUEUED:
        plan.status = PlanStatus.CANCELLED
        plan.phase = "done"
        plan.finished_at = timezone.now()
        plan.message = "Cancelled before the solve started."
    elif plan.status == PlanStatus.RUNNING:
        if plan.cancel_requested:
            return plan
        plan.message = "Stopping: the best proposal found so far will show here."
    else:
        raise Conflict(
            _("This plan is %(status)s: nothing to cancel.")
            % {"status": str(plan.get_status_display()).lower()}
        )
    plan.cancel_requested = True
    plan.cancelled_by = actor
    plan.save(
        update_fields=[
            "status",
            "phase",
            "finished_at",
            "message",
            "cancel_requested",
            "cancelled_by",
            "updated_at",
        ]
    )
    audit_record(actor=actor, action="plan.cancelled", target=plan, hospital=plan.hospital, data={})
    transaction.on_commit(lambda: _push(plan), robust=True)
    return plan


def plan_send(*, actor: User, plan: Plan, row_ids: Sequence[int]) -> list[PlanRow]:
    """Invite the technologist of each of `row_ids` (the rows left ticked) to their posting,
    through `booking_invite` and every check it makes: a row that no longer holds is reported
    with why, and the others are still sent. A plan is sent once.

    Thousands of rows take a while: never one transaction (it would hold the database's write
    lock, SQLite's whole-file one, for the whole send). The plan is claimed first, in a short
    transaction (status `sending`: a second send gets 409); then each row is its own short
    transaction, its invitation and its outcome together; the plan's final word comes last. A
    send that dies midway leaves the rows sent so far recorded as sent. Returns every row of the
    plan, with its outcome."""
    if len(row_ids) > MAX_SEND_ROWS:
        raise ValidationFailed(_("Send at most %(most)s rows at once.") % {"most": MAX_SEND_ROWS})
    plan, rows, chosen = _send_claim(actor=actor, plan=plan, row_ids=row_ids)
    sent = stale = 0
    try:
        for row in rows:
            if not row.ticked or row.technologist is None:
                continue
            if _send_row(actor, row):
                sent += 1
            else:
                stale += 1
    except BaseException as error:
        _send_finish(
            actor,
            plan,
            sent=sent,
            stale=stale,
            unticked=len(rows) - len(chosen),
            broke=type(error).__name__,
        )
        raise
    _send_finish(actor, plan, sent=sent, stale=stale, unticked=len(rows) - len(chosen))
    return rows


@transaction.atomic
def _send_claim(
    *, actor: User, plan: Plan, row_ids: Sequence[int]
) -> tuple[Plan, list[PlanRow], set[int]]:
    """Check the send and claim the plan for it (status `sending`), the ticks stored."""
    plan = _locked(plan)
    plan_access_check(actor, hospital_id=plan.hospital_id)
    if plan.status not in SENDABLE_STATUSES:
        if plan.status == PlanStatus.SENT:
            raise Conflict(_("This plan was already sent."))
        if plan.status == PlanStatus.SENDING:
            raise Conflict(_("This plan is being sent: its outcomes show here shortly."))
        raise Conflict(
            _("This plan is %(status)s; only a finished plan is sent.")
            % {"status": str(plan.get_status_display()).lower()}
        )
    rows = list(
        plan.rows.select_related("posting__hospital", "posting__site", "technologist").order_by(
            "starts_at", "posting_id"
        )
    )
    by_id = {row.pk: row for row in rows}
    chosen = set(row_ids)
    unknown = sorted(chosen - set(by_id))
    if unknown:
        raise ValidationFailed(
            _("Not rows of this plan: %(rows)s.") % {"rows": ", ".join(map(str, unknown[:10]))}
        )
    nobody = sorted(pk for pk in chosen if by_id[pk].technologist_id is None)
    if nobody:
        raise ValidationFailed(
            ngettext(
                "Row %(rows)s proposes nobody: there is no invitation to send.",
                "Rows %(rows)s propose nobody: there is no invitation to send.",
                len(nobody),
            )
            % {"rows": ", ".join(map(str, nobody[:10]))}
        )
    if not chosen:
        raise ValidationFailed(_("Tick at least one row to send."))
    for row in rows:
        row.ticked = row.pk in chosen
    PlanRow.objects.bulk_update(rows, ["ticked"])
    plan.status = PlanStatus.SENDING
    plan.sent_at = timezone.now()
    plan.sent_by = actor
    plan.message = f"Sending {len(chosen)} invitation{'s' if len(chosen) != 1 else ''}…"
    plan.save(update_fields=["status", "sent_at", "sent_by", "message", "updated_at"])
    transaction.on_commit(lambda: _push(plan), robust=True)
    return plan, rows, chosen


def _send_row(actor: User, row: PlanRow) -> bool:
    """One row's invitation and its outcome, in one short transaction. True when sent."""
    assert row.technologist is not None
    try:
        with transaction.atomic():
            booking = booking_invite(
                actor=actor, posting=row.posting, technologist=row.technologist
            )
            row.outcome = RowOutcome.SENT
            row.booking = booking
            row.outcome_message = f"Invitation sent to {row.technologist.display_name}."
            row.save(update_fields=["outcome", "outcome_message", "booking"])
        return True
    except DomainError as error:
        row.outcome = RowOutcome.STALE
        row.booking = None
        row.outcome_message = f"No longer holds: {error.message}"
        row.save(update_fields=["outcome", "outcome_message", "booking"])
        return False


def _send_finish(
    actor: User, plan: Plan, *, sent: int, stale: int, unticked: int, broke: str = ""
) -> None:
    """The plan's final word on its send (also when the send broke off: what went out)."""
    message = f"{sent} invitation{'s' if sent != 1 else ''} sent" + (
        f"; {stale} no longer held." if stale else "."
    )
    if broke:
        message += (
            f" The send stopped on an error ({broke}): the rows without an outcome were not sent."
        )
    with transaction.atomic():
        plan.status = PlanStatus.SENT
        plan.message = message
        plan.save(update_fields=["status", "message", "updated_at"])
        audit_record(
            actor=actor,
            action="plan.sent",
            target=plan,
            hospital=plan.hospital,
            data={"sent": sent, "no_longer_holds": stale, "unticked": unticked}
            | ({"error": broke} if broke else {}),
        )
        transaction.on_commit(lambda: _push(plan), robust=True)


def _locked(plan: Plan) -> Plan:
    return Plan.objects.select_for_update(of=("self",)).select_related("hospital").get(pk=plan.pk)


# --- What viewers see --------------------------------------------------------------------------


# The solver's phases as a manager reads them.
PHASE_LABELS = {
    "queued": gettext_lazy("Waiting to start"),
    "building": gettext_lazy("Reading open sessions and technologists"),
    "solving": gettext_lazy("Searching for the best proposal"),
    "explaining": gettext_lazy("Writing the reasons"),
    "saving": gettext_lazy("Saving the proposal"),
    "done": pgettext_lazy("plan phase", "Done"),
}


def plan_phase_label(plan: Plan) -> str:
    if plan.status == PlanStatus.QUEUED:
        return str(PHASE_LABELS["queued"])
    if not plan.is_active:
        return str(PHASE_LABELS["done"])
    return str(PHASE_LABELS.get(plan.phase, plan.phase.capitalize()))


def plan_message(plan: Plan) -> str:
    """The plan's word to its viewers; a queued plan says what it waits for."""
    if plan.status != PlanStatus.QUEUED or plan.message:
        return plan.message
    ahead = Plan.objects.filter(status__in=ACTIVE_PLAN_STATUSES, pk__lt=plan.pk).count()
    if ahead == 0:
        return _("Waiting to start.")
    if ahead == 1:
        return _("Waiting for another plan to finish. Plans are solved one at a time.")
    return _(
        "Waiting for another plan to finish (%(ahead)s ahead of this one). Plans are solved one "
        "at a time."
    ) % {"ahead": ahead}


def plan_quality(plan: Plan) -> str:
    """How good the best proposal so far is against the best possible (the solver's proven
    bound on the objective, which it maximises): "" while unknown."""
    if plan.objective is None or plan.bound is None or plan.bound <= 0:
        return ""
    if plan.solver_status == "optimal" or plan.objective >= plan.bound:
        return _("the best possible")
    gap = 100 * (1 - plan.objective / plan.bound)
    figure = f"{gap:.2g}" if gap < 10 else f"{gap:.0f}"
    return _("within %(gap)s %% of the best possible") % {
        "gap": figure.replace(".", str(formats.get_format("DECIMAL_SEPARATOR")))
    }


def plan_state(plan: Plan) -> dict[str, Any]:
    """The plan's state as the page's live bar and the websocket tell it (no rows)."""
    return {
        "id": plan.pk,
        "status": plan.status,
        "status_label": plan.get_status_display(),
        "phase": plan.phase,
        "phase_label": plan_phase_label(plan),
        "quality": plan_quality(plan),
        "objective": plan.objective,
        "bound": plan.bound,
        "seconds_left": plan.seconds_left,
        "time_limit_s": plan.time_limit_s,
        "solutions": plan.solutions,
        "cancel_requested": plan.cancel_requested,
        "message": plan_message(plan),
    }


def _push(plan: Plan) -> None:
    """The plan's state to everyone watching its page."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "plan.state", "payload": plan_state(plan)}
    loop = getattr(_pushing, "loop", None)
    try:
        if loop is None:
            async_to_sync(layer.group_send)(plan_group(plan.pk), message)
        elif loop.is_running() and not loop.is_closed():
            send = layer.group_send(plan_group(plan.pk), message)
            asyncio.run_coroutine_threadsafe(send, loop).result(timeout=PUSH_TIMEOUT_S)
        # else: the server's loop is gone (it is stopping): nobody is watching.
    except Exception:  # a viewer who misses one update gets the next, or polls
        logger.exception("plan %s: the progress push failed", plan.pk)


def plan_rows(plan: Plan) -> QuerySet[PlanRow]:
    return plan.rows.select_related(
        "technologist", "posting__site", "posting__scanner", "posting__hospital", "booking"
    ).order_by("starts_at", "posting_id")
