"""A manager's audit trail: their hospital's events only, on the page and in the CSV, filtered
by person, kind and period; a bad filter told with a 400, never a 500; and nobody else sees it
(404, members included)."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.audit import audit_record
from core.models import AuditEvent
from operations.audit import target_label
from tests.conftest import World, api_as, client_for

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def trail(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """Events in both hospitals, on known days (Brussels time, UTC+1 in November)."""

    def at(moment: datetime, **kwargs: object) -> None:
        monkeypatch.setattr(timezone, "now", lambda: moment)
        audit_record(**kwargs)  # type: ignore[arg-type]

    at(
        datetime(2026, 11, 2, 7, 15, tzinfo=UTC),
        actor=world.manager,
        action="scanner.token_rotated",
        target=world.scanner,
        hospital=world.hospital,
    )
    at(
        datetime(2026, 11, 10, 13, 5, tzinfo=UTC),
        actor=world.admin,
        action="site.updated",
        target=world.site,
        hospital=world.hospital,
        data={"name": "=HYPERLINK(1)"},
    )
    at(
        datetime(2026, 11, 20, 23, 30, tzinfo=UTC),  # 21 Nov, 00:30 in Brussels
        actor=world.manager,
        action="site.updated",
        target=world.site,
        hospital=world.hospital,
    )
    at(
        datetime(2026, 11, 12, 9, 0, tzinfo=UTC),
        actor=world.other_manager,
        action="scanner.token_rotated",
        target=world.other_scanner,
        hospital=world.other_hospital,
    )
    at(
        datetime(2026, 11, 12, 9, 0, tzinfo=UTC),
        actor=world.manager,
        action="user.profile_updated",
        target=world.manager,
    )
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return world


def _page(client: Client, world: World, **params: str) -> tuple[int, str]:
    response = client.get(reverse("hospital_audit", args=[world.hospital.pk]), params)
    return response.status_code, response.content.decode()


def _csv(client: Client, world: World, **params: str) -> list[list[str]]:
    response = client.get(reverse("hospital_audit_csv", args=[world.hospital.pk]), params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    # "utf-8-sig", as Excel: a Dutch or French file opens with a byte order mark.
    text = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    return list(csv.reader(io.StringIO(text)))


def test_the_csv_holds_only_the_managers_hospital(trail: World) -> None:
    rows = _csv(client_for(trail.manager), trail)

    assert rows[0] == [
        "Time",
        "Time zone",
        "Person",
        "What",
        "Action",
        "Object",
        "Object id",
        "Details",
    ]
    assert [row[:7] for row in rows[1:]] == [
        [
            "2026-11-21 00:30:00",
            "Europe/Brussels",
            "manager@example.org",
            "Site changed",
            "site.updated",
            "Site",
            str(trail.site.pk),
        ],
        [
            "2026-11-10 14:05:00",
            "Europe/Brussels",
            "admin@example.org",
            "Site changed",
            "site.updated",
            "Site",
            str(trail.site.pk),
        ],
        [
            "2026-11-02 08:15:00",
            "Europe/Brussels",
            "manager@example.org",
            "Scanner's device token renewed",
            "scanner.token_rotated",
            "Scanner",
            str(trail.scanner.pk),
        ],
    ]
    # The details as JSON (an object: nothing a spreadsheet would run).
    assert rows[2][7] == '{"name": "=HYPERLINK(1)"}'
    assert "other-manager@example.org" not in str(rows)


def test_the_page_lists_the_hospitals_events_newest_first(trail: World) -> None:
    status, html = _page(client_for(trail.manager), trail)

    assert status == 200
    assert "3 events" in html
    assert html.index("2026-11-21 00:30:00") < html.index("2026-11-10 14:05:00")
    assert "Scanner&#x27;s device token renewed" in html
    assert '<code class="muted">scanner.token_rotated</code>' in html
    assert "other-manager@example.org" not in html
    assert "user.profile_updated" not in html
    assert "Europe/Brussels" in html
    # The hospital's tabs lead to it.
    assert f'href="/hospitals/{trail.hospital.pk}/audit/" aria-current="page"' in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "site.updated"}, ["2026-11-21 00:30:00", "2026-11-10 14:05:00"]),
        ({"person": "admin"}, ["2026-11-10 14:05:00"]),
        ({"start": "2026-11-03", "end": "2026-11-20"}, ["2026-11-10 14:05:00"]),
        # Days are the hospital's (00:30 on 21 Nov in Brussels, 20 Nov in UTC).
        ({"start": "2026-11-21", "end": "2026-11-21"}, ["2026-11-21 00:30:00"]),
        ({"person": "manager", "kind": "site.updated"}, ["2026-11-21 00:30:00"]),
        ({"kind": "scanner.token_rotated", "start": "2026-11-05"}, []),
    ],
)
def test_filters_keep_what_they_name_on_the_page_and_in_the_csv(
    trail: World, params: dict[str, str], expected: list[str]
) -> None:
    if "person" in params:
        params["person"] = str(getattr(trail, params["person"]).pk)
    client = client_for(trail.manager)

    rows = _csv(client, trail, **params)
    status, html = _page(client, trail, **params)

    assert [row[0] for row in rows[1:]] == expected
    assert status == 200
    assert [moment for moment in expected if moment in html] == expected
    assert html.count("<tr data-event=") == len(expected)


def test_the_filters_offer_the_people_and_kinds_of_the_hospital(trail: World) -> None:
    _, html = _page(client_for(trail.manager), trail)

    assert f'<option value="{trail.admin.pk}">admin@example.org</option>' in html
    assert f'<option value="{trail.manager.pk}">manager@example.org</option>' in html
    assert "other-manager@example.org" not in html
    assert '<option value="site.updated">Site changed (site.updated)</option>' in html
    assert 'value="user.profile_updated"' not in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"person": "abc"}, "&#x27;person&#x27; must be someone in this hospital"),
        ({"person": "-1"}, "&#x27;person&#x27; must be someone in this hospital"),
        ({"person": "1" * 21}, "&#x27;person&#x27; may hold at most 20 characters, not 21."),
        ({"person": "other_manager"}, "&#x27;person&#x27; must be someone in this hospital"),
        ({"kind": "user.profile_updated"}, "&#x27;kind&#x27; must be a kind of event"),
        ({"kind": "x" * 65}, "&#x27;kind&#x27; may hold at most 64 characters, not 65."),
        ({"start": "2026-13-01"}, "&#x27;start&#x27; must be a date as YYYY-MM-DD"),
        ({"end": "x\x00"}, "&#x27;end&#x27; must be a date as YYYY-MM-DD"),
        ({"start": "2026-11-20", "end": "2026-11-01"}, "&#x27;end&#x27; must not be before"),
        ({"start": "2020-01-01", "end": "2026-11-01"}, "at most 731 days"),
        ({"page": "9" * 11}, "&#x27;page&#x27; must be a page number"),
    ],
)
def test_a_bad_filter_is_a_400_saying_why(
    trail: World, params: dict[str, str], message: str
) -> None:
    if params.get("person") == "other_manager":
        params["person"] = str(trail.other_manager.pk)  # in the trail, not this hospital's
    client = client_for(trail.manager)

    status, html = _page(client, trail, **params)
    assert status == 400
    assert message in html
    assert 'id="audit-filters"' in html

    if "page" not in params:
        response = client.get(reverse("hospital_audit_csv", args=[trail.hospital.pk]), params)
        assert response.status_code == 400
        assert message in response.content.decode()


def test_pages_past_the_first_keep_the_filters(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(51):
        moment = datetime(2026, 11, 1, 8, tzinfo=UTC) + timedelta(minutes=n)
        monkeypatch.setattr(timezone, "now", lambda moment=moment: moment)
        audit_record(
            actor=world.manager, action="site.updated", target=world.site, hospital=world.hospital
        )
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    client = client_for(world.manager)

    status, html = _page(client, world, kind="site.updated")
    assert status == 200
    assert html.count("<tr data-event=") == 50
    assert "Page 1 of 2" in html
    query = "start=2026-09-01&amp;end=2026-11-23&amp;kind=site.updated&amp;page=2"
    assert f'href="?{query}"' in html
    _, second = _page(client, world, kind="site.updated", page="2")
    assert second.count("<tr data-event=") == 1
    assert "2026-11-01 09:00:00" in second  # the oldest, in Brussels time


@pytest.mark.parametrize("person", ["technologist", "local_staff", "other_manager", "outsider"])
def test_nobody_but_the_hospitals_managers_sees_it(trail: World, person: str) -> None:
    user = getattr(trail, person)
    client = client_for(user)
    assert client.get(reverse("hospital_audit", args=[trail.hospital.pk])).status_code == 404
    assert client.get(reverse("hospital_audit_csv", args=[trail.hospital.pk])).status_code == 404
    api = api_as(user)
    response = api.get(f"/api/v1/hospitals/{trail.hospital.pk}/audit-events/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_platform_admin_sees_any_hospitals_trail(trail: World) -> None:
    rows = _csv(client_for(trail.admin), trail)
    assert len(rows) == 4


def test_an_anonymous_visitor_is_sent_to_sign_in(trail: World) -> None:
    response = Client().get(reverse("hospital_audit", args=[trail.hospital.pk]))
    assert response.status_code == 302


def test_the_other_hospitals_manager_sees_only_theirs(trail: World) -> None:
    response = client_for(trail.other_manager).get(
        reverse("hospital_audit_csv", args=[trail.other_hospital.pk])
    )
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    assert text.count("\r\n") == 2
    assert "other-manager@example.org" in text
    assert AuditEvent.objects.count() == 5


def test_the_api_gives_the_same_events_a_page_at_a_time(trail: World) -> None:
    api = api_as(trail.manager)
    url = f"/api/v1/hospitals/{trail.hospital.pk}/audit-events/"

    response = api.get(url, {"kind": "site.updated", "page_size": "1"})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert body["next"] is not None
    [event] = body["results"]
    assert event["action"] == "site.updated"
    assert event["action_label"] == "Site changed"
    assert event["actor_label"] == "manager@example.org"
    assert event["created_at"] == "2026-11-20T23:30:00Z"
    assert (event["target_type"], event["target_id"]) == ("marketplace.site", str(trail.site.pk))
    assert len(event["hash"]) == 64


@pytest.mark.parametrize(
    ("params", "field"),
    [({"person": "abc"}, "person"), ({"kind": "x" * 65}, "kind"), ({"start": "soon"}, "start")],
)
def test_the_api_refuses_a_bad_filter_in_the_shared_shape(
    trail: World, params: dict[str, str], field: str
) -> None:
    response = api_as(trail.manager).get(
        f"/api/v1/hospitals/{trail.hospital.pk}/audit-events/", params
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2020-01-01", "end": "2020-01-31"},
        {"kind": "scanner.token_rotated", "start": "2026-11-05"},
    ],
)
def test_filters_that_keep_nothing_say_so(trail: World, params: dict[str, str]) -> None:
    status, html = _page(client_for(trail.manager), trail, **params)

    assert status == 200
    assert '<span id="audit-count">0 events</span>' in html
    assert "No event matches these filters." in html
    assert 'id="audit-csv"' in html


def test_the_page_names_the_time_zone_once_and_each_object_in_words(trail: World) -> None:
    # A model missing from the table of names reads as its own name, not as its code.
    assert target_label("scheduling.availabilitywindow") == "Availability window"
    assert target_label("scheduling.ledgerentry") == "Ledger entry"
    assert target_label("gone.model") == "gone.model"
    _status, html = _page(client_for(trail.manager), trail)
    assert "Times are <span" in html
    assert html.count("Europe/Brussels</span> time") == 1
    assert "Europe/Brussels time (24-hour) <span" not in html


def test_a_rewritten_actor_label_does_not_change_who_is_shown(trail: World) -> None:
    """The label is outside the hash (erasure rewrites it): the page, the CSV and the API show
    the person of the hashed actor id, so a label changed in the database shows nothing false."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET actor_label = 'intruder@example.org'")

    _status, html = _page(client_for(trail.manager), trail)
    rows = _csv(client_for(trail.manager), trail)
    api = api_as(trail.manager).get(f"/api/v1/hospitals/{trail.hospital.pk}/audit-events/")

    assert "intruder@example.org" not in html + str(rows) + api.content.decode()
    assert "manager@example.org" in html
    assert "admin@example.org" in html
    assert {row[2] for row in rows[1:]} == {"manager@example.org", "admin@example.org"}
    assert {e["actor_label"] for e in api.json()["results"]} == {
        "manager@example.org",
        "admin@example.org",
    }


def test_the_admin_also_names_the_person_of_the_hashed_actor(trail: World) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET actor_label = 'intruder@example.org'")

    html = client_for(trail.admin).get("/admin/core/auditevent/").content.decode()

    assert "intruder@example.org" not in html
    assert "manager@example.org" in html
