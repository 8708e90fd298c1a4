"""Plans with the real optimiser (scheduling.optimiser: problem_for, then CP-SAT): a manager's
plan over a small market proposes each technologist at most once per overlapping pair, says
why a posting nobody can take is unfilled, gives the same proposal twice, and every proposed
pair passes booking_invite's checks when sent; a row whose technologist was booked elsewhere
after the proposal is reported, the others sent."""

import pytest

from accounts.models import User
from marketplace.models import ExamFamily, SessionPosting
from scheduling.models import Booking, Plan, PlanStatus, RowOutcome
from scheduling.services import plans
from tests.conftest import World
from tests.factories import ScannerFactory, UserFactory
from tests.scheduling.support import Clock, available, confirmed, licensed, local, post


@pytest.fixture
def second(world: World, clock: Clock) -> User:
    person = UserFactory(email="second@example.org", first_name="Noor", last_name="Claes")
    licensed(person)
    available(person)
    return person


@pytest.fixture
def market(world: World, tech: User, second: User) -> dict[str, SessionPosting]:
    rare = ExamFamily.objects.exclude(code__in=["neuro", "msk"]).first()
    assert rare is not None
    return {
        "urgent": post(world.manager, world.scanner, local(11, 30, 8), urgency="urgent"),
        "overlapping": post(world.manager, ScannerFactory(site=world.site), local(11, 30, 9)),
        "tuesday": post(world.manager, world.scanner, local(12, 1, 8)),
        "rare": post(world.manager, world.scanner, local(12, 2, 8), required_exam_families=[rare]),
    }


def _plan(world: World, django_capture_on_commit_callbacks) -> Plan:
    with django_capture_on_commit_callbacks(execute=True):
        plan, new = plans.plan_create(actor=world.manager, hospital=world.hospital, time_limit_s=5)
    assert new
    plan.refresh_from_db()
    return plan


def _proposal(plan: Plan) -> dict[int, int | None]:
    return dict(plan.rows.values_list("posting_id", "technologist_id"))


def test_a_real_plan_staffs_what_it_can_and_says_why_not(
    world: World, tech: User, second: User, market, django_capture_on_commit_callbacks
) -> None:
    plan = _plan(world, django_capture_on_commit_callbacks)
    assert plan.status == PlanStatus.DONE, plan.message
    proposal = _proposal(plan)
    assert set(proposal) == {posting.pk for posting in market.values()}
    # Both overlapping Monday sessions staffed, by two different people.
    monday = {proposal[market["urgent"].pk], proposal[market["overlapping"].pk]}
    assert monday == {tech.pk, second.pk}
    assert proposal[market["tuesday"].pk] in {tech.pk, second.pk}
    rare = plan.rows.get(posting=market["rare"])
    assert rare.technologist is None
    assert rare.unfilled_why
    chosen = plan.rows.get(posting=market["urgent"])
    assert chosen.reasons
    assert {"term", "text", "points"} <= set(chosen.reasons[0])

    # The same input, the same proposal.
    # (The first plan is over: the scope is free for a second.)
    again = _plan(world, django_capture_on_commit_callbacks)
    assert _proposal(again) == proposal

    # Every proposed pair passes booking_invite's checks.
    rows = plans.plan_send(
        actor=world.manager,
        plan=again,
        row_ids=list(again.rows.exclude(technologist=None).values_list("pk", flat=True)),
    )
    assert {row.outcome for row in rows if row.technologist_id} == {RowOutcome.SENT}
    assert Booking.objects.count() == 3


def test_a_technologist_booked_elsewhere_after_the_proposal_is_reported(
    world: World, tech: User, second: User, market, django_capture_on_commit_callbacks
) -> None:
    plan = _plan(world, django_capture_on_commit_callbacks)
    busy_row = plan.rows.get(posting=market["tuesday"])
    busy = busy_row.technologist
    assert busy is not None
    elsewhere = post(world.other_manager, world.other_scanner, local(12, 1, 9))
    confirmed(world.other_manager, elsewhere, busy)
    rows = plans.plan_send(
        actor=world.manager,
        plan=plan,
        row_ids=list(plan.rows.exclude(technologist=None).values_list("pk", flat=True)),
    )
    outcomes = {row.posting_id: (row.outcome, row.outcome_message) for row in rows}
    outcome, message = outcomes[market["tuesday"].pk]
    assert outcome == RowOutcome.STALE
    assert message.startswith("No longer holds:")
    assert outcomes[market["urgent"].pk][0] == RowOutcome.SENT
    assert outcomes[market["overlapping"].pk][0] == RowOutcome.SENT
    assert not Booking.objects.filter(posting=market["tuesday"]).exists()
