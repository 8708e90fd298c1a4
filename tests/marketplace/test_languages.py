"""The marketplace speaks the reader's language: its pages follow the browser (nl-BE, fr-BE),
its mails and notices the recipient (their profile's choice; an invitation to a new address the
inviting manager's). And the hospital page gives every field an id of its own and a label."""

from collections import Counter
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone, translation

from accounts.models import User
from marketplace import services
from marketplace.models import Role, SessionPosting, TechnologistProfile, VendorFamiliarity
from marketplace.tasks import licence_expiry_warnings
from tests.conftest import World, api_as
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

BROWSERS = {"nl": "nl-BE,nl;q=0.9,en;q=0.5", "fr": "fr-BE,fr;q=0.9,en;q=0.5"}


def _open_posting(world: World) -> SessionPosting:
    world.scanner.cockpit_ready = True
    world.scanner.save(update_fields=["cockpit_ready"])
    starts = timezone.now() + timedelta(days=3)
    return services.posting_create(
        actor=world.manager,
        hospital=world.hospital,
        scanner=world.scanner,
        starts_at=starts,
        ends_at=starts + timedelta(hours=4),
        publish=True,
    )


def _eligible(user: User, vendor: str) -> TechnologistProfile:
    profile = TechnologistProfile.objects.create(
        user=user,
        seniority="senior",
        licence_number="BE-1234",
        licence_authority="SPF Santé publique",
        licence_valid_until=timezone.localdate() + timedelta(days=365),
        licence_verified_at=timezone.now(),
    )
    VendorFamiliarity.objects.create(profile=profile, vendor=vendor)
    return profile


def _page(user: User, url: str, language: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=BROWSERS[language])
    assert response.status_code == 200
    return response.content.decode()


# What each language shows on the pages, and English words that must not be left among them.
POSTING_PAGE = {
    "nl": ["De sessie", "Onderzoekstypes", "Beheren", "Deze oproep annuleren", "Reden"],
    "fr": ["La séance", "Types d’examens", "Gérer", "Annuler cette offre", "Motif"],
}
OPEN_POSTINGS = {
    "nl": ["Open oproepen voor u", "U komt in aanmerking, maar bent niet vrij", "Onderzoekstype"],
    "fr": [
        "Offres ouvertes pour vous",
        "Vous remplissez les conditions, mais n’êtes pas libre",
        "Type d’examen",
    ],
}
ENGLISH = ["The session", "Exam families", "Manage", "Open postings for you", "not free"]


def _readable(html: str) -> str:
    """The page as read: Django escapes an apostrophe as &#x27;; a French one reads the same."""
    return html.replace("&#x27;", "’").replace("'", "’")


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_a_posting_page_comes_in_the_browsers_language(world: World, language: str) -> None:
    posting = _open_posting(world)
    html = _readable(_page(world.manager, f"/postings/{posting.pk}/", language))
    assert f'<html lang="{language}"' in html
    for text in POSTING_PAGE[language]:
        assert text in html
    for text in ENGLISH[:3]:
        assert f">{text}<" not in html


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_the_open_postings_come_in_the_browsers_language(world: World, language: str) -> None:
    posting = _open_posting(world)
    _eligible(world.technologist, posting.vendor)
    html = _readable(_page(world.technologist, "/me/postings/", language))
    assert f'<html lang="{language}"' in html
    assert f"/postings/{posting.pk}/" in html  # listed among those they qualify for
    for text in OPEN_POSTINGS[language]:
        assert text in html
    for text in ENGLISH[3:]:
        assert text not in html


def test_an_invitation_to_a_new_address_is_written_in_the_inviters_language(
    world: World,
) -> None:
    world.manager.language = "fr"
    world.manager.save(update_fields=["language"])
    client = Client()
    client.force_login(world.manager)
    response = client.post(
        f"/hospitals/{world.hospital.pk}/invite/",
        {"email": "nieuw@example.org", "role": Role.TECHNOLOGIST},
        HTTP_ACCEPT_LANGUAGE=BROWSERS["nl"],  # the profile's choice wins over the browser
    )
    assert response.status_code == 302
    message = mail.outbox[-1]
    assert message.subject == "[WeScan] Rejoignez Hôpital Sainte-Claire sur WeScan"
    assert "vous invite à rejoindre Hôpital Sainte-Claire sur WeScan en tant que technologue" in (
        message.body
    )
    assert "Bonjour," in message.body


def test_an_invitation_to_an_account_is_written_in_its_own_language(world: World) -> None:
    world.outsider.language = "nl"
    world.outsider.save(update_fields=["language"])
    with translation.override("fr"):  # the manager's language, for an address with no account
        services.invitation_create(
            actor=world.manager,
            hospital=world.hospital,
            email=world.outsider.email,
            role=Role.LOCAL_STAFF,
        )
    message = mail.outbox[-1]
    assert message.subject == "[WeScan] Word lid van Hôpital Sainte-Claire op WeScan"
    assert "als lokaal personeel" in message.body


def test_a_licence_warning_to_a_french_speaking_technologist_is_in_french(world: World) -> None:
    world.technologist.language = "fr"
    world.technologist.save(update_fields=["language"])
    profile = _eligible(world.technologist, "siemens")
    profile.licence_valid_until = timezone.localdate() + timedelta(days=10)
    profile.save(update_fields=["licence_valid_until"])
    assert licence_expiry_warnings() == 1
    (message,) = mail.outbox
    assert message.subject.startswith("[WeScan] Votre licence expire le ")
    assert "Bonjour" in message.body
    assert "les hôpitaux ne pourront plus vous réserver" in message.body


def test_a_notice_reaches_each_manager_in_their_own_language(world: World) -> None:
    """A French-speaking manager hears that someone joined in French, an English-speaking
    colleague in English, from the same event."""
    world.manager.language = "fr"
    world.manager.save(update_fields=["language"])
    colleague = UserFactory(email="colleague@example.org", language="en")
    MembershipFactory(user=colleague, hospital=world.hospital, role=Role.MANAGER)
    invitation, _token = services.invitation_create(
        actor=world.manager, hospital=world.hospital, email="nadia@example.org", role="technologist"
    )
    newcomer = UserFactory(email="nadia@example.org", first_name="Nadia", last_name="Peeters")
    frames: list[tuple[list[int], dict[str, Any]]] = []
    with (
        mock.patch(
            "marketplace.services.tenancy.push_on_commit",
            side_effect=lambda *, user_ids, payload: frames.append((sorted(user_ids), payload)),
        ),
        translation.override("nl"),
    ):  # whoever's request it is, each reads their own
        services.invitation_accept(user=newcomer, invitation=invitation)
    heard = {user_id: payload["message"] for user_ids, payload in frames for user_id in user_ids}
    assert heard == {
        world.manager.pk: "Nadia Peeters a rejoint Hôpital Sainte-Claire en tant que technologue.",
        colleague.pk: "Nadia Peeters joined Hôpital Sainte-Claire as technologist.",
    }
    assert {payload["kind"] for _ids, payload in frames} == {"member_joined"}


# --- The hospital page: unique ids, every field labelled --------------------------------------


class _Fields(HTMLParser):
    """Every id on the page, every label's `for`, and every field a person fills in."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.fields: list[dict[str, str | None]] = []
        self.in_label = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.append(str(values["id"]))
        if tag == "label":
            self.in_label += 1
            if values.get("for"):
                self.label_for.add(str(values["for"]))
        hidden = values.get("type") in {"hidden", "submit", "button"}
        if tag in {"input", "select", "textarea"} and not hidden:
            self.fields.append({**values, "wrapped": "yes" if self.in_label else None})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_the_hospital_page_has_unique_ids_and_labels_every_field(
    world: World, language: str
) -> None:
    page = _Fields()
    page.feed(_page(world.manager, f"/hospitals/{world.hospital.pk}/", language))
    assert [name for name, count in Counter(page.ids).items() if count > 1] == []
    # The three forms are all there: invite, add a site, add a scanner (each a Name field).
    named = {field.get("id") for field in page.fields if field.get("name") == "name"}
    assert named == {"site_name", "scanner_name"}
    unlabelled = [
        field
        for field in page.fields
        if field.get("id") not in page.label_for
        and not field.get("aria-label")
        and not field.get("wrapped")
    ]
    assert unlabelled == []


def test_an_api_refusal_speaks_the_callers_language(world: World) -> None:
    world.scanner.cockpit_ready = True
    world.scanner.save(update_fields=["cockpit_ready"])
    yesterday = timezone.now() - timedelta(days=1)
    response = api_as(world.manager).post(
        "/api/v1/postings/",
        {
            "hospital": world.hospital.pk,
            "scanner": world.scanner.pk,
            "starts_at": yesterday.isoformat(),
            "ends_at": (yesterday + timedelta(hours=2)).isoformat(),
        },
        format="json",
        HTTP_ACCEPT_LANGUAGE=BROWSERS["fr"],
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "Certains champs ne sont pas valides."
    assert error["fields"]["starts_at"] == ["La séance ne peut pas commencer dans le passé."]
