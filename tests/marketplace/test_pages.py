"""What a manager does on the hospital page, and what a refused form says."""

import pytest
from django.test import Client

from marketplace.models import Invitation, Scanner, Site
from marketplace.selectors import scanner_by_device_token
from tests.conftest import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(world: World) -> Client:
    client = Client()
    client.force_login(world.manager)
    return client


def test_adding_a_site_and_a_scanner(world: World, manager: Client) -> None:
    response = manager.post(
        f"/hospitals/{world.hospital.pk}/sites/",
        {"name": "Campus Sud", "city": "Uccle", "time_zone": "Europe/Brussels"},
        follow=True,
    )
    assert "Site Campus Sud added." in response.content.decode()
    site = Site.objects.get(name="Campus Sud")
    response = manager.post(
        f"/hospitals/{world.hospital.pk}/scanners/",
        {
            "site": site.pk,
            "name": "MR Sud",
            "modality": "MRI",
            "vendor": "siemens",
            "model_name": "MAGNETOM Sola",
            "field_strength_tesla": "1.5",
            "cockpit_ready": "on",
        },
        follow=True,
    )
    page = response.content.decode()
    assert "Scanner MR Sud added." in page
    assert "MAGNETOM Sola" in page


def test_a_scanner_form_offers_only_this_hospitals_sites(world: World, manager: Client) -> None:
    response = manager.post(
        f"/hospitals/{world.hospital.pk}/scanners/",
        {
            "site": world.other_site.pk,
            "name": "MR X",
            "modality": "MRI",
            "vendor": "siemens",
            "model_name": "X",
            "field_strength_tesla": "1.5",
        },
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not Scanner.objects.filter(name="MR X").exists()


def test_an_invalid_invitation_address_is_shown_on_the_form(world: World, manager: Client) -> None:
    response = manager.post(
        f"/hospitals/{world.hospital.pk}/invite/", {"email": "nope", "role": "technologist"}
    )
    assert response.status_code == 400
    assert "Enter a valid email address" in response.content.decode()
    assert not Invitation.objects.exists()


def test_inviting_a_member_again_says_so(world: World, manager: Client) -> None:
    response = manager.post(
        f"/hospitals/{world.hospital.pk}/invite/",
        {"email": world.technologist.email, "role": "technologist"},
    )
    assert response.status_code == 400
    assert "is already a member of Hôpital Sainte-Claire" in response.content.decode()


def test_an_unknown_time_zone_on_the_site_form(world: World, manager: Client) -> None:
    response = manager.post(
        f"/hospitals/{world.hospital.pk}/sites/",
        {"name": "Annexe", "city": "", "time_zone": "Mars/Olympus"},
    )
    assert response.status_code == 400
    assert not Site.objects.filter(name="Annexe").exists()


def test_the_device_token_is_shown_once_and_stored_hashed(world: World, manager: Client) -> None:
    response = manager.post(f"/scanners/{world.scanner.pk}/rotate-token/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    token = page[page.index("wsd_") :].split("<", 1)[0].split()[0]
    world.scanner.refresh_from_db()
    assert token not in world.scanner.device_token_hash
    assert scanner_by_device_token(token=token) == world.scanner
    # Rotating again retires the first token.
    manager.post(f"/scanners/{world.scanner.pk}/rotate-token/")
    assert scanner_by_device_token(token=token) is None
    assert token not in manager.get(f"/hospitals/{world.hospital.pk}/").content.decode()


def test_a_member_sees_the_hospital_but_no_manager_controls(world: World) -> None:
    client = Client()
    client.force_login(world.technologist)
    page = client.get(f"/hospitals/{world.hospital.pk}/").content.decode()
    assert "MR 1" in page
    assert "rotate-token" not in page
    assert "/invite/" not in page


def test_an_unknown_page_is_a_page_and_an_unknown_api_address_is_json(db: None) -> None:
    page = Client().get("/no-such-page/")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")
    api = Client().get("/api/v1/no-such-thing/")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


def test_the_landing_page_invites_to_sign_in(db: None) -> None:
    page = Client().get("/").content.decode()
    assert "/accounts/login/" in page


def test_profile_updates_the_name(world: World, manager: Client) -> None:
    response = manager.post("/profile/", {"first_name": "Anne", "last_name": "Dupont"}, follow=True)
    assert "Your profile is saved." in response.content.decode()
    world.manager.refresh_from_db()
    assert world.manager.get_full_name() == "Anne Dupont"


def test_opening_a_button_address_explains_itself(world: World, manager: Client) -> None:
    response = manager.get(f"/scanners/{world.scanner.pk}/rotate-token/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "use the button" in response.content.decode()


def test_demoting_the_last_manager_is_refused_on_the_hospital_page(
    world: World, manager: Client
) -> None:
    membership = world.manager.memberships.get()
    response = manager.post(
        f"/memberships/{membership.pk}/role/", {"role": "technologist"}, follow=True
    )
    assert response.status_code == 200
    assert "must keep at least one manager" in response.content.decode()
    assert "MR 1" in response.content.decode()  # still the hospital page
    membership.refresh_from_db()
    assert membership.role == "manager"
