"""Notifications in the app: the header menu on every page, the full list, marking read, and the
API; each person sees only their own."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from accounts.models import User
from core.models import Notification
from core.notify import notification_send
from tests.conftest import World, api_as, client_for

pytestmark = pytest.mark.django_db


def _notices(user: User, count: int, *, url: str = "/me/postings/") -> list[Notification]:
    made = [
        notification_send(
            user_ids=[user.pk], kind="test", message=f"Notice number {i}", url=url, mail=False
        )[0]
        for i in range(1, count + 1)
    ]
    # A minute apart, oldest first.
    for age, notice in enumerate(reversed(made)):
        Notification.objects.filter(pk=notice.pk).update(
            created_at=timezone.now() - timedelta(minutes=age + 1)
        )
    return made


def _main(html: str) -> str:
    """The page's own content, without the header menu."""
    return html.split("<main", 1)[1].split("</main>", 1)[0]


def _menu(html: str) -> str:
    match = re.search(r'<details class="notif-menu".*?</details>', html, re.S)
    assert match, "no notification menu on the page"
    return match.group(0)


# --- The header menu ----------------------------------------------------------------------------


def test_every_page_shows_the_unread_count_and_the_latest_eight(world: World) -> None:
    _notices(world.manager, 10)
    Notification.objects.filter(message="Notice number 10").update(read_at=timezone.now())
    _notices(world.other_manager, 1)
    for path in ("/", "/profile/", f"/hospitals/{world.hospital.pk}/"):
        response = client_for(world.manager).get(path)
        assert response.status_code == 200
        menu = _menu(response.content.decode())
        assert re.search(r"data-notif-count>9<", menu), menu
        listed = re.findall(r"Notice number (\d+)", menu)
        assert listed == ["10", "9", "8", "7", "6", "5", "4", "3"]
        # Each notice's time on the 24-hour clock in the viewer's own zone, named (as on
        # /notifications/): not "1 minute ago", which no page's language could keep.
        assert re.search(r"data-notif-time>\d{1,2} \w+ \d{4}, \d\d:\d\d Europe/Brussels<", menu), (
            menu
        )
        assert 'href="/notifications/"' in menu
        assert "Mark all read" in menu


def test_no_count_badge_when_all_is_read_and_nothing_for_anonymous(world: World) -> None:
    menu = _menu(client_for(world.technologist).get("/").content.decode())
    assert "data-notif-count hidden>0<" in menu
    assert "Nothing yet." in menu
    page = client_for(None).get("/").content.decode()
    assert "notif-menu" not in page
    assert "notifications.js" not in page


# --- The full page ------------------------------------------------------------------------------


def test_the_full_list_is_paginated_newest_first(world: World) -> None:
    _notices(world.manager, 30)
    client = client_for(world.manager)
    first = _main(client.get("/notifications/").content.decode())
    assert re.findall(r"Notice number (\d+)", first)[:2] == ["30", "29"]
    assert len(re.findall(r"Notice number \d+<", first)) == 25
    assert "Page 1 of 2" in first
    second = _main(client.get("/notifications/?page=2").content.decode())
    assert re.findall(r"Notice number (\d+)<", second) == ["5", "4", "3", "2", "1"]
    # A hospital manager's times are shown in the hospital's zone.
    assert 'class="tz">Europe/Brussels<' in first


def test_opening_a_notice_marks_it_read_and_follows_its_link(world: World) -> None:
    (notice,) = _notices(world.manager, 1, url="/me/postings/")
    client = client_for(world.manager)
    response = client.get(f"/notifications/{notice.pk}/open/")
    assert response.status_code == 302
    assert response["Location"] == "/me/postings/"
    notice.refresh_from_db()
    assert notice.read_at is not None
    unread = _main(client.get("/notifications/?show=unread").content.decode())
    assert "No unread notifications." in unread


def test_a_notice_leading_elsewhere_opens_the_list_instead(world: World) -> None:
    (notice,) = _notices(world.manager, 1, url="https://evil.example/")
    response = client_for(world.manager).get(f"/notifications/{notice.pk}/open/")
    assert response["Location"] == "/notifications/"


def test_someone_elses_notice_does_not_exist(world: World) -> None:
    (notice,) = _notices(world.manager, 1)
    client = client_for(world.other_manager)
    assert client.get(f"/notifications/{notice.pk}/open/").status_code == 404
    assert client.post(f"/notifications/{notice.pk}/read/").status_code == 404
    notice.refresh_from_db()
    assert notice.read_at is None
    assert client_for(None).get("/notifications/").status_code == 302


def test_mark_one_read_with_a_form(world: World) -> None:
    first, second = _notices(world.manager, 2)
    client = client_for(world.manager)
    page = client.get("/notifications/").content.decode()
    assert f'action="/notifications/{first.pk}/read/"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    response = client.post(f"/notifications/{first.pk}/read/", {"next": "/notifications/"})
    assert (response.status_code, response["Location"]) == (302, "/notifications/")
    notification_send(user_ids=[world.manager.pk], kind="test", message="Fresh.", mail=False)
    assert "Fresh." in _menu(client.get("/").content.decode())
    assert list(Notification.objects.filter(read_at__isnull=True, kind="test")) == [
        Notification.objects.get(message="Fresh."),
        second,
    ]
    # Opened as a page, the button's address says what to do instead.
    assert client.get(f"/notifications/{first.pk}/read/").status_code == 405


def test_mark_all_read_leaves_what_arrived_after_the_page_was_shown(world: World) -> None:
    _notices(world.manager, 3)
    client = client_for(world.manager)
    menu = _menu(client.get("/").content.decode())
    up_to = re.search(r'name="up_to" value="(\d+)"', menu)
    assert up_to
    (late,) = _notices(world.manager, 1)
    response = client.post(
        "/notifications/read-all/", {"up_to": up_to.group(1), "next": "/profile/"}, follow=True
    )
    assert response.redirect_chain == [("/profile/", 302)]
    assert "3 notifications marked read." in response.content.decode()
    assert list(Notification.objects.filter(read_at__isnull=True)) == [late]
    assert client.post("/notifications/read-all/", {"up_to": "abc"}).status_code == 400


# --- API ----------------------------------------------------------------------------------------


def test_the_api_lists_your_own_notifications_only(world: World) -> None:
    mine = _notices(world.manager, 3)
    _notices(world.other_manager, 2)
    Notification.objects.filter(pk=mine[0].pk).update(read_at=timezone.now())
    api = api_as(world.manager)
    body = api.get("/api/v1/notifications/").json()
    assert body["count"] == 3
    assert [n["message"] for n in body["results"]] == [
        "Notice number 3",
        "Notice number 2",
        "Notice number 1",
    ]
    assert set(body["results"][0]) == {
        "id",
        "kind",
        "message",
        "url",
        "data",
        "created_at",
        "read_at",
    }
    unread = api.get("/api/v1/notifications/?unread=true").json()
    assert [n["id"] for n in unread["results"]] == [mine[2].pk, mine[1].pk]
    read = api.get("/api/v1/notifications/?unread=false").json()
    assert [n["id"] for n in read["results"]] == [mine[0].pk]
    bad = api.get("/api/v1/notifications/?unread=maybe")
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"] == {"unread": ["Must be a valid boolean."]}


def test_the_api_marks_read_and_refuses_other_peoples(world: World) -> None:
    first, second, _third = _notices(world.manager, 3)
    theirs = _notices(world.other_manager, 1)[0]
    api = api_as(world.manager)
    response = api.post(f"/api/v1/notifications/{first.pk}/read/")
    assert response.status_code == 200
    assert response.json()["read_at"] is not None
    refused = api.post(f"/api/v1/notifications/{theirs.pk}/read/")
    assert refused.status_code == 404
    assert refused.json()["error"] == {
        "code": "not_found",
        "message": "No such notification.",
        "fields": {},
    }
    theirs.refresh_from_db()
    assert theirs.read_at is None
    partial = api.post("/api/v1/notifications/read-all/", {"up_to": second.pk}, format="json")
    assert partial.json() == {"marked": 1, "unread": 1}
    everything = api.post("/api/v1/notifications/read-all/", {}, format="json")
    assert everything.json() == {"marked": 1, "unread": 0}
    assert Notification.objects.filter(recipient=world.other_manager, read_at=None).count() == 1
    unknown = api.post("/api/v1/notifications/read-all/", {"everything": True}, format="json")
    assert unknown.status_code == 400


def test_the_api_wants_a_signed_in_caller(world: World) -> None:
    (notice,) = _notices(world.manager, 1)
    anonymous = api_as(None)
    for response in (
        anonymous.get("/api/v1/notifications/"),
        anonymous.post(f"/api/v1/notifications/{notice.pk}/read/"),
        anonymous.post("/api/v1/notifications/read-all/"),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"


def test_the_schema_documents_the_notification_endpoints() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    listing = schema["paths"]["/api/v1/notifications/"]["get"]
    assert "unread" in {parameter["name"] for parameter in listing["parameters"]}
    assert "post" in schema["paths"]["/api/v1/notifications/{id}/read/"]
    assert "post" in schema["paths"]["/api/v1/notifications/read-all/"]
