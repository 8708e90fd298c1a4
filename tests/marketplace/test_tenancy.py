"""Who sees and does what, through the API and the pages: another hospital's objects do not
exist (404), actions beyond one's role are refused (403), anonymous callers are asked to sign in."""

import pytest

from marketplace.models import Invitation, Role, Scanner
from tests.conftest import PEOPLE, World, api_as, client_for, who
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _objects(world: World) -> dict[str, str]:
    return {
        "hospital": f"/api/v1/hospitals/{world.hospital.pk}/",
        "site": f"/api/v1/sites/{world.site.pk}/",
        "scanner": f"/api/v1/scanners/{world.scanner.pk}/",
        "membership": f"/api/v1/memberships/{world.manager.memberships.get().pk}/",
    }


# What each person gets when reading an object of Hôpital Sainte-Claire.
READ = {
    "anonymous": 401,
    "outsider": 404,
    "technologist": 200,
    "local_staff": 200,
    "manager": 200,
    "other_manager": 404,
    "admin": 200,
}


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("kind", ["hospital", "site", "scanner", "membership"])
def test_reading_an_object_of_a_hospital(world: World, person: str, kind: str) -> None:
    response = api_as(who(world, person)).get(_objects(world)[kind])
    assert response.status_code == READ[person]
    if response.status_code != 200:
        assert set(response.json()["error"]) == {"code", "message", "fields"}


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("outsider", set()),
        ("technologist", {"Hôpital Sainte-Claire"}),
        ("manager", {"Hôpital Sainte-Claire"}),
        ("other_manager", {"Ziekenhuis Scheldeland"}),
        ("admin", {"Hôpital Sainte-Claire", "Ziekenhuis Scheldeland"}),
    ],
)
def test_lists_hold_only_ones_own_hospitals(world: World, person: str, expected: set[str]) -> None:
    client = api_as(getattr(world, person))
    hospitals = client.get("/api/v1/hospitals/").json()["results"]
    assert {h["name"] for h in hospitals} == expected
    scanners = client.get("/api/v1/scanners/").json()["results"]
    names = {"Hôpital Sainte-Claire": "MR 1", "Ziekenhuis Scheldeland": "MRI A"}
    assert {s["name"] for s in scanners} == {names[h] for h in expected}
    sites = client.get("/api/v1/sites/").json()["results"]
    assert len(sites) == len(expected)


def test_a_hospital_filter_cannot_reach_past_ones_memberships(world: World) -> None:
    client = api_as(world.manager)
    response = client.get("/api/v1/scanners/", {"hospital": world.other_hospital.pk})
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_my_role_is_reported_per_hospital(world: World) -> None:
    MembershipFactory(user=world.manager, hospital=world.other_hospital, role=Role.LOCAL_STAFF)
    hospitals = api_as(world.manager).get("/api/v1/hospitals/").json()["results"]
    assert {h["name"]: h["my_role"] for h in hospitals} == {
        "Hôpital Sainte-Claire": "manager",
        "Ziekenhuis Scheldeland": "local_staff",
    }


# What each person gets when changing Hôpital Sainte-Claire's scanner.
WRITE = {
    "anonymous": 401,
    "outsider": 404,
    "technologist": 403,
    "local_staff": 403,
    "manager": 200,
    "other_manager": 404,
    "admin": 200,
}


@pytest.mark.parametrize("person", PEOPLE)
def test_changing_a_scanner(world: World, person: str) -> None:
    response = api_as(who(world, person)).patch(
        f"/api/v1/scanners/{world.scanner.pk}/", {"name": "MR renamed"}, format="json"
    )
    assert response.status_code == WRITE[person]
    world.scanner.refresh_from_db()
    assert (world.scanner.name == "MR renamed") is (WRITE[person] == 200)


@pytest.mark.parametrize("person", PEOPLE)
def test_rotating_a_device_token(world: World, person: str) -> None:
    response = api_as(who(world, person)).post(f"/api/v1/scanners/{world.scanner.pk}/rotate-token/")
    expected = WRITE[person]
    assert response.status_code == expected
    world.scanner.refresh_from_db()
    assert bool(world.scanner.device_token_hash) is (expected == 200)


@pytest.mark.parametrize("person", PEOPLE)
def test_inviting_someone(world: World, person: str) -> None:
    response = api_as(who(world, person)).post(
        "/api/v1/invitations/",
        {"hospital": world.hospital.pk, "email": "new@example.org", "role": "technologist"},
        format="json",
    )
    assert response.status_code == {**WRITE, "manager": 201, "admin": 201}[person]
    assert Invitation.objects.filter(email="new@example.org").exists() is (
        response.status_code == 201
    )


@pytest.mark.parametrize("person", PEOPLE)
def test_adding_a_scanner(world: World, person: str) -> None:
    body = {
        "site": world.site.pk,
        "name": "MR 9",
        "modality": "MRI",
        "vendor": "siemens",
        "model_name": "MAGNETOM Sola",
        "field_strength_tesla": "1.50",
        "cockpit_ready": False,
    }
    response = api_as(who(world, person)).post("/api/v1/scanners/", body, format="json")
    # Naming a site one cannot see is a field error in the body, not a missing URL.
    expected = {**WRITE, "manager": 201, "admin": 201, "outsider": 400, "other_manager": 400}
    assert response.status_code == expected[person], response.content
    assert Scanner.objects.filter(name="MR 9").exists() is (response.status_code == 201)


def test_invitations_are_the_managers_business(world: World) -> None:
    api_as(world.manager).post(
        "/api/v1/invitations/",
        {"hospital": world.hospital.pk, "email": "new@example.org", "role": "technologist"},
        format="json",
    )
    invitation = Invitation.objects.get()
    assert api_as(world.manager).get("/api/v1/invitations/").json()["count"] == 1
    for person in (world.technologist, world.local_staff, world.other_manager):
        assert api_as(person).get("/api/v1/invitations/").json()["count"] == 0
        assert api_as(person).get(f"/api/v1/invitations/{invitation.pk}/").status_code == 404
        assert api_as(person).delete(f"/api/v1/invitations/{invitation.pk}/").status_code == 404
    invitation.refresh_from_db()
    assert invitation.status == "pending"


def test_only_platform_admins_onboard_hospitals(world: World) -> None:
    body = {"name": "AZ Nieuw", "country": "BE", "city": "Gent"}
    refused = api_as(world.manager).post("/api/v1/hospitals/", body, format="json")
    assert refused.status_code == 403
    created = api_as(world.admin).post("/api/v1/hospitals/", body, format="json")
    assert created.status_code == 201
    assert created.json()["name"] == "AZ Nieuw"


# Pages ---------------------------------------------------------------------------------------


HOSPITAL_PAGE = {
    "anonymous": 302,
    "outsider": 404,
    "technologist": 200,
    "local_staff": 200,
    "manager": 200,
    "other_manager": 404,
    "admin": 200,
}


@pytest.mark.parametrize("person", PEOPLE)
def test_the_hospital_page(world: World, person: str) -> None:
    response = client_for(who(world, person)).get(f"/hospitals/{world.hospital.pk}/")
    assert response.status_code == HOSPITAL_PAGE[person]
    if response.status_code == 302:
        assert response["Location"].startswith("/accounts/login/")
    if response.status_code == 200:
        page = response.content.decode()
        assert "MR 1" in page
        assert "MRI A" not in page
        # Only those who may invite see the invite form.
        assert ('name="email"' in page) is (person in {"manager", "admin"})


@pytest.mark.parametrize("person", PEOPLE)
def test_inviting_from_the_page(world: World, person: str) -> None:
    response = client_for(who(world, person)).post(
        f"/hospitals/{world.hospital.pk}/invite/",
        {"email": "page@example.org", "role": "local_staff"},
    )
    expected = {**HOSPITAL_PAGE, "technologist": 403, "local_staff": 403}
    expected.update(manager=302, admin=302)
    assert response.status_code == expected[person]
    assert Invitation.objects.filter(email="page@example.org").exists() is (
        person in {"manager", "admin"}
    )
    if response.status_code == 403:
        assert "Only a manager of Hôpital Sainte-Claire" in response.content.decode()


@pytest.mark.parametrize("person", ["technologist", "other_manager"])
def test_rotating_a_token_from_the_page_is_refused(world: World, person: str) -> None:
    response = client_for(getattr(world, person)).post(
        f"/scanners/{world.scanner.pk}/rotate-token/"
    )
    assert response.status_code == {"technologist": 403, "other_manager": 404}[person]
    world.scanner.refresh_from_db()
    assert not world.scanner.device_token_hash


@pytest.mark.parametrize(("person", "expected"), [("anonymous", 302), ("outsider", 200)])
def test_profile_page(world: World, person: str, expected: int) -> None:
    assert client_for(who(world, person)).get("/profile/").status_code == expected


@pytest.mark.parametrize(("person", "expected"), [("manager", 302), ("admin", 200)])
def test_the_django_admin_is_for_platform_staff(world: World, person: str, expected: int) -> None:
    client = client_for(getattr(world, person))
    assert client.get("/admin/").status_code == expected


@pytest.mark.parametrize(
    "page",
    [
        "/admin/accounts/user/",
        "/admin/marketplace/hospital/",
        "/admin/marketplace/site/",
        "/admin/marketplace/scanner/",
        "/admin/marketplace/membership/",
        "/admin/marketplace/invitation/",
        "/admin/marketplace/technologistprofile/",
        "/admin/core/auditevent/",
    ],
)
def test_every_model_has_a_working_admin_page(world: World, page: str) -> None:
    client = client_for(world.admin)
    assert client.get(page).status_code == 200
    assert client.get(page, {"q": "Claire"}).status_code == 200


def test_a_user_without_memberships_sees_a_dashboard_that_says_so(world: World) -> None:
    page = client_for(world.outsider).get("/").content.decode()
    assert "Hôpital Sainte-Claire" not in page


def test_a_new_user_is_not_staff(db: None) -> None:
    assert not UserFactory().is_staff


def test_the_dashboard_counts_every_member_not_only_oneself(world: World) -> None:
    page = client_for(world.technologist).get("/").content.decode()
    assert "1 site · 3 members" in page
