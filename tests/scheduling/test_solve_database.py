"""The optimiser end to end on a hospital's fortnight in the database: its proposal, sent as
invitations and accepted, passes every check of booking_invite and booking_accept (together,
not only one by one), and leaves the confirmed booking where it was. Frozen clock: Monday 23
November 2026, 09:00 UTC; sessions in the weeks after (Brussels time)."""

import pytest

from accounts.models import User
from marketplace.models import Role, Urgency, Vendor
from scheduling import services
from scheduling.models import Booking, BookingStatus
from scheduling.optimiser.build import problem_for
from scheduling.optimiser.solve import solve
from tests.conftest import World
from tests.factories import MembershipFactory, ScannerFactory, UserFactory
from tests.scheduling.optimiser_support import (
    assert_reasons_true,
    assert_runner_ups_true,
    assert_unfilled_true,
)
from tests.scheduling.support import NOW, Clock, available, confirmed, licensed, local, post

pytestmark = pytest.mark.django_db


def person(world: World, name: str, **profile: object) -> User:
    user = UserFactory(email=f"{name}@example.org", first_name=name.title(), last_name="Tech")
    MembershipFactory(user=user, hospital=world.hospital, role=Role.TECHNOLOGIST)
    licensed(user, **profile)
    available(user)
    return user


def test_a_hospitals_proposal_sent_and_accepted_passes_every_booking_check(
    world: World, clock: Clock
):
    mr2 = ScannerFactory(site=world.site, name="MR 2", vendor=Vendor.SIEMENS)
    mr3 = ScannerFactory(site=world.site, name="MR 3", vendor=Vendor.SIEMENS)
    ann, bob = person(world, "ann"), person(world, "bob")
    cas = person(world, "cas", seniority="senior")
    m = world.manager
    # Monday morning: four sessions at once for three people; one needs a senior.
    monday = [
        post(m, world.scanner, local(11, 30, 8), urgency=Urgency.URGENT),
        post(m, mr2, local(11, 30, 8), min_seniority="senior"),
        post(m, mr3, local(11, 30, 9), urgency=Urgency.PRIORITY),
        post(m, world.scanner, local(11, 30, 12, 15), hours=2),  # in the buffer after 08–12
    ]
    # Tuesday: Ann is confirmed elsewhere 08:00–12:00; an afternoon session each side.
    theirs = ScannerFactory(site=world.other_site, name="MRI B", vendor=Vendor.SIEMENS)
    frozen = confirmed(world.other_manager, post(world.other_manager, theirs, local(12, 1, 8)), ann)
    tuesday = [
        post(m, world.scanner, local(12, 1, 12)),
        post(m, mr2, local(12, 1, 13), hours=5, urgency=Urgency.URGENT),
    ]
    # Thursday: long days up to the weekly cap.
    thursday = [post(m, scanner, local(12, 3, 6), hours=12) for scanner in (world.scanner, mr2)]

    problem = problem_for(hospital=world.hospital, now=NOW)
    proposal = solve(problem)

    assert proposal.status == "optimal"
    assert {s.id for s in problem.sessions} == {p.pk for p in [*monday, *tuesday, *thursday]}
    assert_unfilled_true(problem, proposal)
    assert_reasons_true(problem, proposal)
    assert_runner_ups_true(problem, proposal)
    people = {u.pk: u for u in (ann, bob, cas)}
    postings = {p.pk: p for p in [*monday, *tuesday, *thursday]}
    # Monday: only Cas may take the senior session, and Cas is needed for one of the others
    # (equal staffing either way: which one is the tie-break's, and ids differ between
    # databases); the senior one is left, and its reason names Cas and the session Cas has.
    staffed = {a.session_id: a.technologist_id for a in proposal.assignments}
    assert monday[1].pk not in staffed
    (unfilled,) = proposal.unfilled
    assert (unfilled.session_id, unfilled.blockers) == (monday[1].pk, (cas.pk,))
    (cas_monday,) = [
        postings[session]
        for session, who in staffed.items()
        if who == cas.pk and session in {p.pk for p in monday}
    ]
    assert unfilled.why.startswith("The one who qualifies, Cas Tech, is proposed for ")
    assert f"{cas_monday.scanner.name}, Mon 30 Nov" in unfilled.why
    assert staffed.get(tuesday[0].pk) != ann.pk  # 12:00 is within her rest buffer

    for assignment in proposal.assignments:
        booking = services.booking_invite(
            actor=m,
            posting=postings[assignment.session_id],
            technologist=people[assignment.technologist_id],
        )
        services.booking_accept(actor=people[assignment.technologist_id], booking=booking)

    held = Booking.objects.filter(status=BookingStatus.CONFIRMED, posting__hospital=world.hospital)
    assert held.count() == len(proposal.assignments)
    frozen.refresh_from_db()
    assert (frozen.status, frozen.technologist_id, frozen.starts_at) == (
        BookingStatus.CONFIRMED,
        ann.pk,
        local(12, 1, 8),
    )
