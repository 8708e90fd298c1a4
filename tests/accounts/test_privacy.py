"""Personal data rights: a person downloads what WeScan holds about them (their own rows, no one
else's), and can be erased: the account is anonymised while the ledger and the audit trail stay
true. Bookings go through the real services on a frozen clock (tests/scheduling/support.py:
today is Monday 23 November 2026, 09:00 UTC)."""

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db.models import Sum
from django.test import Client
from django.urls import reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy
from rest_framework.test import APIClient

from accounts import privacy
from accounts.models import AccessToken, User
from core.models import AuditEvent, Notification
from core.notify import notification_send
from marketplace.models import Role, SessionPosting
from scheduling import ledger, services
from scheduling.models import AvailabilityWindow, Booking, BookingStatus, LedgerEntry
from tests.cockpit.support import open_cockpit
from tests.conftest import World, client_for
from tests.factories import PASSWORD, MembershipFactory, UserFactory, access_token, enrol_totp
from tests.scheduling.support import Clock, available, confirmed, freeze, licensed, local, post

pytestmark = pytest.mark.django_db


@dataclass
class History:
    lent: User  # Tina Peeters, lent by Sainte-Claire
    other: User  # Bram Claes, lent by Scheldeland
    independent: User  # Ines Dupont, of no hospital
    tina_worked: Booking
    bram_worked: Booking
    ines_worked: Booking
    tina_pending: Booking


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return freeze(monkeypatch)


def named(user: User, first: str, last: str) -> User:
    user.first_name, user.last_name = first, last
    user.save(update_fields=["first_name", "last_name"])
    return user


def worked(clock: Clock, manager: User, posting: SessionPosting, technologist: User) -> Booking:
    booking = confirmed(manager, posting, technologist)
    clock.now = posting.starts_at
    booking = services.booking_start(actor=technologist, booking=booking)
    clock.now = posting.ends_at
    return services.booking_complete(actor=technologist, booking=booking)


@pytest.fixture
def history(world: World, clock: Clock) -> History:
    # Everyone else by a fixed name: the factory's random ones once made the lending manager
    # "Tina Green", whose name is rightly in the exports after Tina Peeters's erasure.
    for person, first, last in (
        (world.manager, "Marc", "Janssens"),
        (world.other_manager, "Sofie", "Wouters"),
        (world.local_staff, "Luc", "Maes"),
        (world.admin, "Eva", "Jacobs"),
    ):
        named(person, first, last)
    tina = named(world.technologist, "Tina", "Peeters")
    licensed(tina)
    available(tina, actor=world.manager)
    bram = UserFactory(email="bram@example.org", first_name="Bram", last_name="Claes")
    MembershipFactory(user=bram, hospital=world.other_hospital, role=Role.TECHNOLOGIST)
    licensed(bram)
    available(bram, actor=world.other_manager)
    ines = named(world.outsider, "Ines", "Dupont")
    licensed(ines)
    available(ines)

    later = post(world.manager, world.scanner, local(12, 14, 8))
    tina_worked = worked(
        clock,
        world.other_manager,
        post(world.other_manager, world.other_scanner, local(11, 30, 8)),
        tina,
    )
    bram_worked = worked(
        clock, world.manager, post(world.manager, world.scanner, local(12, 1, 8)), bram
    )
    ines_worked = worked(
        clock,
        world.other_manager,
        post(world.other_manager, world.other_scanner, local(12, 2, 8)),
        ines,
    )
    tina_pending = services.booking_invite(actor=world.manager, posting=later, technologist=tina)
    clock.now = local(12, 3, 9)
    return History(tina, bram, ines, tina_worked, bram_worked, ines_worked, tina_pending)


def ledger_totals(world: World, people: list[User]) -> dict[str, Any]:
    """Each hospital's balance with each counterpart, and each technologist's hours."""
    return {
        "balances": {
            hospital.pk: sorted(
                (b.counterpart.key, b.given, b.received)
                for b in ledger.ledger_balances(hospital=hospital)
            )
            for hospital in (world.hospital, world.other_hospital)
        },
        "hours": {
            person.pk: LedgerEntry.objects.filter(booking__technologist=person).aggregate(
                hours=Sum("hours")
            )["hours"]
            for person in people
        },
        "facts": {person.pk: ledger.record_of_facts(technologist=person) for person in people},
        "entries": LedgerEntry.objects.count(),
    }


def export_of(user: User) -> tuple[dict[str, Any], str]:
    response = client_for(user).get(reverse("account_privacy_export"))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="wescan-my-data-')
    text = response.content.decode()
    return json.loads(text), text


def erase_from_page(user: User, *, password: str = PASSWORD, word: str = "ERASE") -> Any:
    client = client_for(user)
    return client.post(
        reverse("account_privacy_erase"), {"password": password, "confirmation": word}
    )


# --- Erasure keeps the facts -------------------------------------------------------------------


@pytest.mark.parametrize("who", ["lent", "independent"])
def test_erasure_keeps_every_ledger_total(world: World, history: History, who: str) -> None:
    person = getattr(history, who)
    people = [history.lent, history.other, history.independent]
    before = ledger_totals(world, people)
    assert before["hours"][person.pk] == Decimal("4.00")

    response = erase_from_page(person)

    assert response.status_code == 302
    assert ledger_totals(world, people) == before
    assert Booking.objects.filter(technologist=person, status=BookingStatus.COMPLETED).count() == 1


def test_erasure_anonymises_the_account(world: World, history: History) -> None:
    tina = history.lent
    if not Authenticator.objects.filter(user=tina).exists():
        enrol_totp(tina)
    EmailAddress.objects.create(user=tina, email=tina.email, verified=True, primary=True)
    access_token(tina)

    erase_from_page(tina)

    tina.refresh_from_db()
    assert tina.email.startswith("erased-")
    assert tina.email.endswith("@invalid")
    assert (tina.first_name, tina.last_name) == ("", "")
    assert not tina.has_usable_password()
    assert not tina.is_active
    assert not Authenticator.objects.filter(user=tina).exists()
    assert not EmailAddress.objects.filter(user=tina).exists()
    assert not AccessToken.objects.filter(user=tina).exists()
    assert not tina.memberships.exists()
    assert tina.technologist_profile.licence_number == ""
    # Availability ahead withdrawn; the pending booking withdrawn, the hospital told why.
    assert not AvailabilityWindow.objects.filter(technologist=tina).exists()
    history.tina_pending.refresh_from_db()
    assert history.tina_pending.status == BookingStatus.CANCELLED
    assert "account was closed" in history.tina_pending.cancel_reason


def test_the_audit_trail_names_the_erased_person_by_a_pseudonym(
    world: World, history: History
) -> None:
    tina = history.lent
    theirs = AuditEvent.objects.filter(actor_id=tina.pk).count()
    assert theirs > 0

    erase_from_page(tina)

    tina.refresh_from_db()
    # Hers, then withdrawing her pending booking, leaving her hospital, then the erasure itself.
    assert AuditEvent.objects.filter(actor_id=tina.pk).count() == theirs + 3
    assert set(
        AuditEvent.objects.filter(actor_id=tina.pk).values_list("actor_label", flat=True)
    ) == {tina.email}
    erased = AuditEvent.objects.get(action="account.erased")
    assert erased.target_id == str(tina.pk)
    assert "technologist@example.org" not in json.dumps(erased.data)
    assert not AuditEvent.objects.filter(actor_label="technologist@example.org").exists()
    # Nor in what the events record (hashed, so never rewritten): people are kept there by id.
    recorded = json.dumps(list(AuditEvent.objects.values_list("data", flat=True)))
    assert "technologist@example.org" not in recorded


def test_the_erased_person_can_no_longer_sign_in(world: World, history: History) -> None:
    tina = history.lent
    token = access_token(tina)
    elsewhere = client_for(tina)
    assert elsewhere.get("/profile/").status_code == 200

    erase_from_page(tina)
    tina.refresh_from_db()

    for email in ("technologist@example.org", tina.email):
        page = Client().post(reverse("account_login"), {"login": email, "password": PASSWORD})
        assert page.status_code != 302
        api = APIClient().post(
            "/api/v1/auth/token/", {"email": email, "password": PASSWORD}, format="json"
        )
        assert api.status_code == 400
    assert elsewhere.get("/profile/").status_code == 302  # the other session is over
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/me/").status_code == 401


def _named_in_any_language(name: str) -> bool:
    """Whether a notice names `name` in one of the languages it is kept in."""
    kept = Notification.objects.exclude(messages=None).values_list("messages", flat=True)
    return any(name in text for messages in kept for text in messages.values())


def test_others_no_longer_read_the_erased_person_s_name(world: World, history: History) -> None:
    # The manager who lent Tina was told of her work by name, in every language.
    assert Notification.objects.filter(
        recipient=world.other_manager, message__contains="Tina Peeters"
    ).exists()
    assert _named_in_any_language("Tina Peeters")

    erase_from_page(history.lent)

    for person in (world.manager, world.other_manager, history.other, history.independent):
        _, text = export_of(person)
        assert "Tina" not in text
        assert "Peeters" not in text
        assert "technologist@example.org" not in text
    assert not Notification.objects.filter(message__contains="Tina Peeters").exists()
    assert not _named_in_any_language("Tina Peeters")


def test_a_name_with_accents_is_gone_from_every_language_of_a_notice(
    world: World, history: History
) -> None:
    # Stored as JSON, "Hélène" may be written with escapes (SQLite): it is found all the same.
    tina = history.lent
    tina.first_name, tina.last_name = "Hélène", "D'Aubigné"
    tina.save()
    notification_send(
        user_ids=[world.other_manager.pk],
        kind="booking.applied",
        message=format_lazy(
            gettext_lazy("{name} applied for the session {when}."),
            name=tina.get_full_name(),
            when="5 Dec",
        ),
        mail=False,
    )
    assert _named_in_any_language("Hélène D'Aubigné")

    erase_from_page(tina)

    assert not _named_in_any_language("Hélène D'Aubigné")
    notice = Notification.objects.filter(recipient=world.other_manager).latest("pk")
    assert notice.text("en") == "A former member applied for the session 5 Dec."
    assert notice.text("fr") == "Un ancien membre s'est porté candidat pour la séance 5 Dec."
    assert notice.text("nl").startswith("Een voormalig lid ")


# --- Erasure refused, or not confirmed ----------------------------------------------------------


def test_a_confirmed_booking_ahead_holds_the_erasure_back(
    world: World, history: History, clock: Clock
) -> None:
    ahead = confirmed(
        world.manager, post(world.manager, world.scanner, local(12, 21, 8)), history.lent
    )

    page = client_for(history.lent).get(reverse("account_privacy")).content.decode()
    assert "1 confirmed booking ahead" in page
    assert "cancel it first" in page
    response = erase_from_page(history.lent)

    assert response.status_code == 409
    assert "cancel it first" in response.content.decode()
    history.lent.refresh_from_db()
    assert history.lent.email == "technologist@example.org"
    assert history.lent.is_active
    ahead.refresh_from_db()
    assert ahead.status == BookingStatus.CONFIRMED


@pytest.mark.parametrize(
    ("password", "word", "message"),
    [
        ("wrong-password", "ERASE", "That is not your password."),
        (PASSWORD, "erase me", "Type ERASE to confirm."),
        ("x" * 5000, "ERASE", "Ensure this value has at most 4096 characters"),
    ],
)
def test_erasure_needs_the_password_and_the_word(
    world: World, history: History, password: str, word: str, message: str
) -> None:
    response = erase_from_page(history.lent, password=password, word=word)

    assert response.status_code == 400
    assert message in response.content.decode()
    history.lent.refresh_from_db()
    assert history.lent.is_active


def test_a_platform_admin_erases_from_the_command_line(world: World, history: History) -> None:
    call_command("erase_account", "Technologist@example.org")
    history.lent.refresh_from_db()
    assert history.lent.email.startswith("erased-")
    assert AuditEvent.objects.get(action="account.erased").actor_id is None

    with pytest.raises(CommandError, match="already erased"):
        call_command("erase_account", history.lent.email)
    with pytest.raises(CommandError, match="No account"):
        call_command("erase_account", "nobody@example.org")


def test_the_command_keeps_the_same_rules(world: World, history: History) -> None:
    confirmed(world.manager, post(world.manager, world.scanner, local(12, 21, 8)), history.lent)
    with pytest.raises(CommandError, match="confirmed booking ahead"):
        call_command("erase_account", "technologist@example.org")


# --- Download ---------------------------------------------------------------------------------


def test_the_download_holds_my_bookings_and_no_one_else_s(world: World, history: History) -> None:
    data, text = export_of(history.lent)

    sections = data["sections"]
    assert [b["id"] for b in sections["bookings_as_technologist"]] == [
        history.tina_worked.pk,
        history.tina_pending.pk,
    ]
    assert [e["booking_id"] for e in sections["ledger_entries"]] == [history.tina_worked.pk]
    assert sections["account"][0]["email"] == "technologist@example.org"
    assert [m["hospital__name"] for m in sections["hospital_memberships"]] == [
        "Hôpital Sainte-Claire"
    ]
    assert sections["availability"]
    assert sections["technologist_profile"][0]["licence_number"]
    for someone in ("bram@example.org", "independent@example.org", "Bram", "Ines"):
        assert someone not in text
    assert data["capped_sections"] == []


def test_a_long_section_is_cut_and_the_file_says_so(
    world: World, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(privacy, "EXPORT_SECTION_LIMIT", 1)

    data, _ = export_of(history.lent)

    assert data["section_limit"] == 1
    assert "bookings_as_technologist" in data["capped_sections"]
    assert len(data["sections"]["bookings_as_technologist"]) == 1


def test_the_pages_are_for_signed_in_people(db: None) -> None:
    client = Client()
    for name in ("account_privacy", "account_privacy_export"):
        assert client.get(reverse(name)).status_code == 302
    assert client.post(reverse("account_privacy_erase"), {}).status_code == 302
    assert Client().get(reverse("account_privacy")).status_code == 302


def test_signed_in_people_see_the_page(world: World, clock: Clock) -> None:
    page = client_for(world.technologist).get(reverse("account_privacy"))
    assert page.status_code == 200
    assert "Download my data" in page.content.decode()
    assert "Erase my account for good" in page.content.decode()


def test_a_cockpit_not_ended_holds_the_erasure_back(world: World) -> None:
    cockpit = open_cockpit(world)  # on the real clock: it opens 15 minutes before the start
    senior = UserFactory(email="senior@example.org")
    cockpit.assistants.add(senior)

    assert privacy.erasure_refusals(user=senior) == [
        "You are in a cockpit that has not ended: finish or leave it first."
    ]
    assert any("cockpit" in reason for reason in privacy.erasure_refusals(user=world.technologist))
    with pytest.raises(CommandError, match="cockpit that has not ended"):
        call_command("erase_account", "senior@example.org")


def test_the_erasure_form_is_no_password_oracle(world: World, history: History) -> None:
    """Wrong passwords typed here spend the sign-in budget: once it is used up the form answers
    429 with Retry-After, the right password included, as the sign-in page would."""
    client = client_for(history.lent)
    url = reverse("account_privacy_erase")
    failures, _window = settings.LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS
    for _ in range(failures):
        response = client.post(url, {"password": "wrong-password", "confirmation": "ERASE"})
        assert response.status_code == 400

    for password in ("wrong-password", PASSWORD):
        response = client.post(url, {"password": password, "confirmation": "ERASE"})
        assert response.status_code == 429
        assert int(response["Retry-After"]) > 0
        assert "Too many failed sign-ins to this account" in response.content.decode()
    history.lent.refresh_from_db()
    assert history.lent.is_active


def test_the_only_manager_of_a_hospital_cannot_be_erased(world: World, history: History) -> None:
    page = client_for(world.manager).get(reverse("account_privacy")).content.decode()
    assert f"You are the only manager of {world.hospital.name}" in page

    response = erase_from_page(world.manager)

    assert response.status_code == 409
    assert "make someone else manager first" in response.content.decode()
    world.manager.refresh_from_db()
    assert world.manager.is_active


def test_the_hospital_reads_a_members_erasure_under_the_pseudonym(
    world: World, history: History
) -> None:
    MembershipFactory(user=UserFactory(), hospital=world.hospital, role=Role.MANAGER)
    assert erase_from_page(world.manager).status_code == 302
    world.manager.refresh_from_db()

    [event] = AuditEvent.objects.filter(action="membership.erased")
    assert (event.hospital_id, event.data) == (world.hospital.pk, {"role": "manager"})
    other = UserFactory()
    MembershipFactory(user=other, hospital=world.hospital, role=Role.MANAGER)
    enrol_totp(other)
    html = (
        client_for(other).get(reverse("hospital_audit", args=[world.hospital.pk])).content.decode()
    )
    assert "Member&#x27;s account erased" in html
    assert world.manager.email in html  # the pseudonym
    assert "manager@example.org" not in html


def test_hospital_pages_call_an_erased_person_a_former_member(
    world: World, history: History
) -> None:
    ines = history.independent
    assert erase_from_page(ines).status_code == 302
    ines.refresh_from_db()

    assert ines.display_name == "Former member"
    names = {b.counterpart.name for b in ledger.ledger_balances(hospital=world.other_hospital)}
    assert "Former member" in names
    assert ines.email not in names
    page = client_for(world.other_manager).get(
        reverse("booking_detail", args=[history.ines_worked.pk])
    )
    assert page.status_code == 200
    assert "Former member" in page.content.decode()
    assert ines.email not in page.content.decode()


def test_the_erasure_page_and_its_outcome_promise_the_same(world: World, history: History) -> None:
    page = client_for(history.lent).get(reverse("account_privacy")).content.decode()
    assert "name you by a pseudonym" in page
    client = client_for(history.lent)
    response = client.post(
        reverse("account_privacy_erase"), {"password": PASSWORD, "confirmation": "ERASE"}
    )
    after = client.get(response["Location"]).content.decode()
    assert "name you by a pseudonym" in after
    assert "under no name" not in after
