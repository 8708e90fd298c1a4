"""The plan pages: "Fill my open sessions" on a manager's postings page, "Fill the network" for
platform admins, the plan page (progress while running; the proposal as a table and a week view
once done; outcomes after sending) per role, and forms that never answer 500."""

from zoneinfo import ZoneInfo

import pytest

from accounts.models import User
from marketplace.models import SessionPosting
from scheduling.models import Booking, Plan, PlanStatus
from scheduling.services import plans
from tests.conftest import MANAGER_PAGE, PEOPLE, World, client_for, who
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
def proposal(
    world: World, tech: User, second: User, monkeypatch, django_capture_on_commit_callbacks
) -> Plan:
    first = post(world.manager, world.scanner, local(11, 30, 8))
    other = post(world.manager, world.scanner, local(12, 1, 8), urgency="urgent")
    nobody = post(world.manager, world.scanner, local(12, 2, 14))
    install(
        monkeypatch, FakeOptimiser({first: tech, other: second, nobody: None}, runner_up=second)
    )
    with django_capture_on_commit_callbacks(execute=True):
        plan, _ = plans.plan_create(actor=world.manager, hospital=world.hospital)
    plan.refresh_from_db()
    return plan


def test_the_postings_page_offers_to_fill_the_open_sessions(world: World, clock: Clock) -> None:
    page = client_for(world.manager).get(f"/hospitals/{world.hospital.pk}/postings/")
    assert b"Fill my open sessions" in page.content
    assert f'action="/hospitals/{world.hospital.pk}/plans/new/"'.encode() in page.content


@pytest.mark.parametrize("person", PEOPLE)
def test_who_may_fill_a_hospitals_sessions(
    world: World, clock: Clock, person: str, monkeypatch
) -> None:
    install(monkeypatch, FakeOptimiser({}))
    answer = client_for(who(world, person)).post(f"/hospitals/{world.hospital.pk}/plans/new/")
    expected = MANAGER_PAGE[person]
    if expected == 200:
        plan = Plan.objects.get()
        assert answer.status_code == 302
        assert answer["Location"] == f"/plans/{plan.pk}/"
    else:
        assert answer.status_code == expected
        assert not Plan.objects.exists()


@pytest.mark.parametrize("person", PEOPLE)
def test_who_may_fill_the_network(world: World, clock: Clock, person: str) -> None:
    answer = client_for(who(world, person)).post("/plans/network/new/")
    expected = {"anonymous": 302, "admin": 302}.get(person, 403)
    assert answer.status_code == expected
    assert Plan.objects.exists() == (person == "admin")
    listing = client_for(who(world, person)).get("/plans/")
    if person == "admin":
        assert b"Fill the network" in listing.content
    elif person != "anonymous":
        assert b"Fill the network" not in listing.content


@pytest.mark.parametrize("person", PEOPLE)
def test_the_menu_offers_plans_to_managers_and_admins_only(
    world: World, clock: Clock, person: str
) -> None:
    home = client_for(who(world, person)).get("/", follow=True).content.decode()
    offered = home.count('href="/plans/">Plans</a>')
    assert offered == (1 if person in ("manager", "other_manager", "admin") else 0)
    listing = client_for(who(world, person)).get("/plans/")
    expected = {"anonymous": 302, "manager": 200, "other_manager": 200, "admin": 200}
    assert listing.status_code == expected.get(person, 403)


@pytest.mark.parametrize("person", PEOPLE)
def test_who_may_open_a_plan(world: World, proposal: Plan, person: str) -> None:
    answer = client_for(who(world, person)).get(f"/plans/{proposal.pk}/")
    assert answer.status_code == MANAGER_PAGE[person]


@pytest.mark.parametrize("person", PEOPLE)
def test_who_may_open_a_network_plan(world: World, clock: Clock, person: str) -> None:
    plan, _ = plans.plan_create(actor=world.admin, hospital=None)
    answer = client_for(who(world, person)).get(f"/plans/{plan.pk}/")
    expected = {"anonymous": 302, "admin": 200}.get(person, 404)
    assert answer.status_code == expected


def test_a_queued_plan_says_it_waits_for_another(world: World, clock: Clock) -> None:
    ahead, _ = plans.plan_create(actor=world.admin, hospital=None)
    plan, _ = plans.plan_create(actor=world.manager, hospital=world.hospital)
    page = client_for(world.manager).get(f"/plans/{plan.pk}/").content.decode()
    assert "Waiting for another plan to finish." in page
    assert '<span id="plan-left" hidden>' in page  # no "10 s left" while it waits
    state = client_for(world.manager).get(f"/api/v1/plans/{plan.pk}/").json()
    assert state["message"].startswith("Waiting for another plan to finish")
    assert state["progress"]["phase_label"] == "Waiting to start"
    assert ahead.status == PlanStatus.QUEUED


def test_the_result_says_how_good_it_is_in_words(world: World, proposal: Plan) -> None:
    page = client_for(world.manager).get(f"/plans/{proposal.pk}/").content.decode()
    assert "2 of 3 sessions staffed. The proposal is the best possible (found in 1.0 s)." in page
    assert "Objective" not in page
    api = client_for(world.manager).get(f"/api/v1/plans/{proposal.pk}/").json()
    assert (api["objective"], api["bound"]) == (300, 300)  # the raw figures stay in the API
    assert api["progress"]["quality"] == "the best possible"


def test_a_running_plan_shows_its_progress_and_cancel(world: World, clock: Clock) -> None:
    plan, _ = plans.plan_create(actor=world.manager, hospital=world.hospital)
    Plan.objects.filter(pk=plan.pk).update(
        status=PlanStatus.RUNNING, phase="solving", objective=1234, bound=1500, seconds_left=4.0
    )
    page = client_for(world.manager).get(f"/plans/{plan.pk}/").content.decode()
    assert 'id="plan-bar"' in page
    # People's words, not the solver's: 1 - 1234/1500 = 17.7 % from the best possible.
    assert '<span data-field="phase_label">Searching for the best proposal</span>' in page
    assert '<span data-field="quality">within 18 % of the best possible</span>' in page
    assert "1234" not in page
    assert '<span data-field="seconds_left">4</span> s left' in page
    assert 'data-ws-path="/ws/plans/' in page
    assert "js/plan" in page  # the page's script, from the static files
    assert "<script>" not in page  # no inline script
    assert ">Cancel</button>" in page
    answer = client_for(world.manager).post(f"/plans/{plan.pk}/cancel/")
    assert answer.status_code == 302
    plan.refresh_from_db()
    assert plan.cancel_requested
    # Once over, a second cancel is a message on the page, not an error.
    Plan.objects.filter(pk=plan.pk).update(status=PlanStatus.DONE)
    answer = client_for(world.manager).post(f"/plans/{plan.pk}/cancel/", follow=True)
    assert b"nothing to cancel" in answer.content


def test_the_proposal_is_a_table_and_a_week_view(
    world: World, proposal: Plan, tech, second
) -> None:
    page = client_for(world.manager).get(f"/plans/{proposal.pk}/").content.decode()
    assert "Proposal: 2 proposed, 1 unfilled" in page
    assert page.count('type="checkbox" name="row"') == 2
    assert page.count(" checked") >= 2
    assert "Nobody qualifies." in page
    assert "Fewer hours this fortnight (0 h)." in page
    assert "More hours this fortnight." in page  # the runner-up's why
    assert "Send 2 invitations" in page
    assert 'aria-label="Send the invitation to' in page
    # Site-local times (Brussels: UTC+1 in winter): the posting at 08:00 local.
    assert "Mon 30 Nov 08:00–12:00" in page
    assert 'id="plan-week"' in page
    assert "Wed 02 Dec" in page


def test_a_hospital_plans_times_are_in_its_site_time(world: World, proposal: Plan) -> None:
    zone = ZoneInfo(world.hospital.sites.order_by("pk").first().time_zone)
    start = proposal.horizon_start.astimezone(zone)
    page = client_for(world.manager).get(f"/plans/{proposal.pk}/").content.decode()
    assert f"Sessions starting {start:%a %d %b %H:%M} to " in page
    assert f"({zone.key} time)." in page
    listing = client_for(world.manager).get("/plans/").content.decode()
    created = proposal.created_at.astimezone(zone)
    assert f'{created:%a %d %b %H:%M} <span class="muted">({zone.key} time)</span>' in listing
    network, _ = plans.plan_create(actor=world.admin, hospital=None)
    assert "(UTC)." in client_for(world.admin).get(f"/plans/{network.pk}/").content.decode()


def test_send_from_the_page_with_one_row_unticked(
    world: World, proposal: Plan, tech: User, second: User
) -> None:
    keep = proposal.rows.get(technologist=tech)
    answer = client_for(world.manager).post(
        f"/plans/{proposal.pk}/send/", {"row": [str(keep.pk)]}, follow=True
    )
    assert answer.status_code == 200
    page = answer.content.decode()
    assert "1 invitation sent." in page
    assert "Invitation sent</span>" in page
    assert "not sent" in page
    assert list(Booking.objects.values_list("technologist", flat=True)) == [tech.pk]


def test_send_from_the_page_takes_the_ticked_ids_as_one_field(
    world: World, proposal: Plan, tech: User, second: User
) -> None:
    ids = [str(row.pk) for row in proposal.rows.exclude(technologist=None)]
    answer = client_for(world.manager).post(
        f"/plans/{proposal.pk}/send/", {"rows": ",".join(ids)}, follow=True
    )
    assert "2 invitations sent." in answer.content.decode()
    assert sorted(Booking.objects.values_list("technologist", flat=True)) == sorted(
        [tech.pk, second.pk]
    )


def test_a_send_of_more_ids_than_django_takes_fields_reaches_the_plan(
    world: World, proposal: Plan
) -> None:
    # 1,500 ids in one field: past DATA_UPLOAD_MAX_NUMBER_FIELDS as checkboxes, within the bound.
    ids = ",".join(str(900_000 + number) for number in range(1500))
    answer = client_for(world.manager).post(
        f"/plans/{proposal.pk}/send/", {"rows": ids}, follow=True
    )
    assert answer.status_code == 200
    assert "Not rows of this plan: 900000" in answer.content.decode()
    too_many = ",".join(str(900_000 + number) for number in range(plans.MAX_SEND_ROWS + 1))
    refused = client_for(world.manager).post(f"/plans/{proposal.pk}/send/", {"rows": too_many})
    assert refused.status_code == 400
    assert f"at most {plans.MAX_SEND_ROWS}".encode() in refused.content
    assert not Booking.objects.exists()


def test_a_row_that_no_longer_held_is_not_marked_sent(
    world: World, proposal: Plan, tech: User, second: User
) -> None:
    ids = [str(row.pk) for row in proposal.rows.exclude(technologist=None)]
    # After the proposal: Noor is booked elsewhere over her session.
    elsewhere = post(world.other_manager, world.other_scanner, local(12, 1, 9))
    confirmed(world.other_manager, elsewhere, second)
    client_for(world.manager).post(f"/plans/{proposal.pk}/send/", {"rows": ",".join(ids)})
    page = client_for(world.manager).get(f"/plans/{proposal.pk}/").content.decode()
    stale = proposal.rows.get(technologist=second)
    went = proposal.rows.get(technologist=tech)
    mark = '<td data-label="Sent" class="sent-mark">'
    stale_cell = page.split(f'id="row-{stale.pk}"')[1].split(mark)[1].split("</td>")[0]
    went_cell = page.split(f'id="row-{went.pk}"')[1].split(mark)[1].split("</td>")[0]
    assert "✓" not in stale_cell
    assert "not sent" in stale_cell
    assert went_cell.strip() == "✓"


def test_a_plan_that_proposes_nobody_has_no_send_column(
    world: World,
    clock: Clock,
    posting: SessionPosting,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    install(monkeypatch, FakeOptimiser({posting: None}))
    with django_capture_on_commit_callbacks(execute=True):
        plan, _ = plans.plan_create(actor=world.manager, hospital=world.hospital)
    page = client_for(world.manager).get(f"/plans/{plan.pk}/").content.decode()
    assert "Nobody qualifies." in page
    assert '<th scope="col">Sent</th>' not in page
    assert '<th scope="col">Send</th>' not in page


@pytest.mark.parametrize(
    "rows", [[], ["x"], ["0"], ["9" * 40], ["999999"], ["1"] * (plans.MAX_SEND_ROWS + 1)]
)
def test_bad_sends_from_the_page_are_never_500(world: World, proposal: Plan, rows) -> None:
    answer = client_for(world.manager).post(f"/plans/{proposal.pk}/send/", {"row": rows})
    assert answer.status_code in (302, 400)
    assert not Booking.objects.exists()


def test_forms_are_post_only_and_unknown_plans_404(world: World, proposal: Plan) -> None:
    client = client_for(world.manager)
    assert client.get(f"/plans/{proposal.pk}/send/").status_code == 405
    assert client.get(f"/plans/{proposal.pk}/cancel/").status_code == 405
    assert client.get(f"/hospitals/{world.hospital.pk}/plans/new/").status_code == 405
    assert client.get("/plans/999999/").status_code == 404
    assert client.get("/plans/0/").status_code == 404


def test_the_plans_list_shows_the_nightly_proposal_to_admins(
    world: World,
    tech: User,
    posting: SessionPosting,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    from scheduling import tasks

    install(monkeypatch, FakeOptimiser({posting: tech}))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.plan_network_nightly()
    admin_list = client_for(world.admin).get("/plans/").content.decode()
    assert "The nightly job" in admin_list
    assert "The whole network" in admin_list
    assert "The nightly job" not in client_for(world.manager).get("/plans/").content.decode()
