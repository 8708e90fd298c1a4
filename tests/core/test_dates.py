"""Dates far outside the calendar (year 1, year 9999) are a clear 4xx or a sensible default,
never a 500 from an overflow."""

import pytest
from django.test import Client

from tests.conftest import World, api_as
from tests.factories import TechnologistProfileFactory

pytestmark = pytest.mark.django_db

FAR = ["0001-01-01", "9999-12-31"]


@pytest.fixture
def technologist(world: World) -> Client:
    TechnologistProfileFactory(user=world.technologist)
    client = Client()
    client.force_login(world.technologist)
    return client


@pytest.mark.parametrize("day", FAR)
def test_week_views(world: World, technologist: Client, day: str) -> None:
    assert technologist.get("/me/availability/", {"week": day}).status_code == 200
    manager = Client()
    manager.force_login(world.manager)
    assert manager.get(f"/hospitals/{world.hospital.pk}/staff/", {"week": day}).status_code == 200


@pytest.mark.parametrize("day", FAR)
def test_posting_filters_on_pages(world: World, technologist: Client, day: str) -> None:
    assert technologist.get("/me/postings/", {"starts_from": day}).status_code == 400
    manager = Client()
    manager.force_login(world.manager)
    response = manager.get(
        f"/hospitals/{world.hospital.pk}/postings/", {"starts_from": day, "starts_until": day}
    )
    assert response.status_code == 400
    assert "Choose a date between 2000 and 2099." in response.content.decode()


@pytest.mark.parametrize("day", FAR)
def test_api_ranges(world: World, day: str) -> None:
    client = api_as(world.technologist)
    response = client.get("/api/v1/availability/occurrences/", {"start": day, "end": "2027-01-01"})
    assert response.status_code == 400
    assert "start" in response.json()["error"]["fields"]
    response = api_as(world.manager).get("/api/v1/postings/", {"starts_after": day})
    assert response.status_code == 400


def test_api_bodies(world: World) -> None:
    response = api_as(world.manager).post(
        "/api/v1/postings/",
        {
            "hospital": world.hospital.pk,
            "scanner": world.scanner.pk,
            "starts_at": "9999-12-31T20:00:00Z",
            "ends_at": "9999-12-31T23:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 400
    assert {"starts_at", "ends_at"} <= set(response.json()["error"]["fields"])
