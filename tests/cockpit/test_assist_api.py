"""Senior assistance over the API: raising a request from a cockpit, the requests waiting for
you and your history, accepting (409 "taken" for the loser), cancelling and ending, your
on-call windows and switch. Each endpoint's permission boundaries: anonymous 401, another
person's objects 404, a move your role does not allow 403."""

from datetime import UTC, timedelta
from typing import Any

import pytest
from django.utils import timezone

from cockpit.models import AssistNotice, AssistRequest, AssistStatus
from core.models import Notification
from marketplace.models import Seniority
from scheduling.models import OnCallWindow
from tests.cockpit.support import open_cockpit
from tests.cockpit.test_assist_pages import NOTE, ask, junior, on_call_senior, technologist
from tests.conftest import World, api_as

pytestmark = pytest.mark.django_db


def _error(response: Any) -> Any:
    return response.json()["error"]


# --- Raising a request from a cockpit -----------------------------------------------------------


def test_the_operator_asks_for_help_and_the_senior_on_call_is_asked(world: World) -> None:
    senior = on_call_senior("Anna Senior")
    cockpit = open_cockpit(world)

    response = api_as(world.technologist).post(
        f"/api/v1/cockpits/{cockpit.pk}/assist-requests/",
        {"exam_family": "neuro", "note": NOTE},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["cockpit"] == cockpit.pk
    assert body["status"] == "open"
    assert body["stage"] == 1
    assert body["exam_family"] == {"code": "neuro", "name": "Neuro"}
    assert body["note"] == NOTE
    assert body["requested_by"] == {
        "id": world.technologist.pk,
        "name": world.technologist.display_name,
        "role": "operator",
    }
    assert body["asked"] == 1
    assert (body["hospital"], body["site"], body["scanner"]) == (
        "Hôpital Sainte-Claire",
        "Campus Nord",
        "MR 1",
    )
    assert body["vendor"] == world.scanner.vendor
    assert body["may_accept"] is False
    assert AssistNotice.objects.filter(request_id=body["id"], user=senior).exists()


def test_local_staff_ask_as_local_by_default(world: World) -> None:
    on_call_senior("Anna Senior")
    cockpit = open_cockpit(world)

    response = api_as(world.local_staff).post(
        f"/api/v1/cockpits/{cockpit.pk}/assist-requests/",
        {"exam_family": "neuro"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["requested_by"]["role"] == "local"


def test_a_note_with_a_phone_number_is_refused(world: World) -> None:
    on_call_senior("Anna Senior")
    cockpit = open_cockpit(world)

    response = api_as(world.technologist).post(
        f"/api/v1/cockpits/{cockpit.pk}/assist-requests/",
        {"exam_family": "neuro", "note": "Call me on +32 475 12 34 56 about the planes"},
        format="json",
    )

    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid"
    assert "a phone number" in str(error["message"])
    assert error["fields"] == {"note": [error["message"]]}
    assert not AssistRequest.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"exam_family": "astrology"}, "exam_family"),
        ({"exam_family": "neuro", "role": "observer"}, "role"),
        ({"exam_family": "neuro", "patient": "x"}, "patient"),
        ({"note": "no family"}, "exam_family"),
    ],
)
def test_bad_requests_name_the_field(world: World, body: dict[str, str], field: str) -> None:
    cockpit = open_cockpit(world)

    response = api_as(world.technologist).post(
        f"/api/v1/cockpits/{cockpit.pk}/assist-requests/", body, format="json"
    )

    assert response.status_code == 400
    assert field in _error(response)["fields"]
    assert not AssistRequest.objects.exists()


def test_a_second_open_request_in_the_same_cockpit_is_a_conflict(world: World) -> None:
    on_call_senior("Anna Senior")
    cockpit = open_cockpit(world)
    ask(world, cockpit)

    response = api_as(world.local_staff).post(
        f"/api/v1/cockpits/{cockpit.pk}/assist-requests/", {"exam_family": "neuro"}, format="json"
    )

    assert response.status_code == 409
    assert _error(response)["code"] == "conflict"
    assert AssistRequest.objects.count() == 1


@pytest.mark.parametrize(
    ("person", "status"),
    [("anonymous", 401), ("outsider", 404), ("other_manager", 404), ("admin", 403)],
)
def test_who_may_not_ask(world: World, person: str, status: int) -> None:
    # A platform admin may observe any cockpit, never ask in it.
    cockpit = open_cockpit(world)
    user = None if person == "anonymous" else getattr(world, person)

    response = api_as(user).post(
        f"/api/v1/cockpits/{cockpit.pk}/assist-requests/", {"exam_family": "neuro"}, format="json"
    )

    assert response.status_code == status
    assert not AssistRequest.objects.exists()


# --- Reading requests ---------------------------------------------------------------------------


def test_open_requests_waiting_for_a_senior_and_the_history(world: World) -> None:
    senior = on_call_senior("Anna Senior")
    cockpit = open_cockpit(world)
    assist = ask(world, cockpit)
    client = api_as(senior)

    waiting = client.get("/api/v1/assist-requests/?open=1").json()

    assert [row["id"] for row in waiting["results"]] == [assist.pk]
    assert waiting["results"][0]["may_accept"] is True
    assert waiting["results"][0]["note"] == NOTE
    # What the banner says to someone who opens WeScan after the request went out.
    assert (
        waiting["results"][0]["message"]
        == Notification.objects.get(recipient=senior, kind="assist_request").message
    )
    assert client.get("/api/v1/assist-requests/").json()["count"] == 1
    client.post(f"/api/v1/assist-requests/{assist.pk}/accept/")
    assert client.get("/api/v1/assist-requests/?open=1").json()["count"] == 0
    history = client.get("/api/v1/assist-requests/").json()["results"]
    assert [(row["id"], row["status"], row["may_accept"]) for row in history] == [
        (assist.pk, "accepted", False)
    ]


def test_the_requester_sees_their_request_and_nobody_else_does(world: World) -> None:
    on_call_senior("Anna Senior")
    assist = ask(world, open_cockpit(world))

    mine = api_as(world.technologist).get("/api/v1/assist-requests/").json()["results"]

    assert [row["id"] for row in mine] == [assist.pk]
    for user in (world.outsider, world.other_manager, junior()):
        assert api_as(user).get("/api/v1/assist-requests/").json()["count"] == 0
        assert api_as(user).get(f"/api/v1/assist-requests/{assist.pk}/").status_code == 404
    # Local staff of the cockpit see it though they were not asked.
    local = api_as(world.local_staff).get(f"/api/v1/assist-requests/{assist.pk}/")
    assert local.status_code == 200
    assert local.json()["may_accept"] is False
    assert api_as(None).get("/api/v1/assist-requests/").status_code == 401
    assert api_as(world.technologist).get("/api/v1/assist-requests/abc/").status_code == 404


def test_the_open_filter_is_a_yes_or_no(world: World) -> None:
    response = api_as(world.technologist).get("/api/v1/assist-requests/?open=perhaps")

    assert response.status_code == 400
    assert "open" in _error(response)["fields"]


# --- Accepting, cancelling, ending ----------------------------------------------------------


def test_first_accept_wins_and_the_second_gets_409_taken(world: World) -> None:
    anna = on_call_senior("Anna Senior", hospital=world.other_hospital)
    bert = on_call_senior("Bert Senior", hospital=world.other_hospital)
    cockpit = open_cockpit(world)
    assist = ask(world, cockpit)

    won = api_as(anna).post(f"/api/v1/assist-requests/{assist.pk}/accept/")
    lost = api_as(bert).post(f"/api/v1/assist-requests/{assist.pk}/accept/")

    assert won.status_code == 200
    assert won.json()["status"] == "accepted"
    assert won.json()["accepted_by"] == {
        "id": anna.pk,
        "name": anna.display_name,
        "role": "assistant",
    }
    assert cockpit.assistants.filter(pk=anna.pk).exists()
    assert lost.status_code == 409
    assert _error(lost) == {
        "code": "taken",
        "message": f"Taken: {anna.display_name} is already helping.",
        "fields": {},
    }
    assert not cockpit.assistants.filter(pk=bert.pk).exists()


def test_only_technologists_asked_accept(world: World) -> None:
    cockpit = open_cockpit(world)
    assist = ask(world, cockpit)  # nobody on call: the managers are alerted

    manager = api_as(world.manager).post(f"/api/v1/assist-requests/{assist.pk}/accept/")
    local = api_as(world.local_staff).post(f"/api/v1/assist-requests/{assist.pk}/accept/")
    outsider = api_as(world.outsider).post(f"/api/v1/assist-requests/{assist.pk}/accept/")

    assert manager.status_code == 403
    assert local.status_code == 404
    assert outsider.status_code == 404
    assert AssistRequest.objects.get(pk=assist.pk).status == AssistStatus.OPEN


def test_cancel_by_the_requester_not_by_a_senior_asked(world: World) -> None:
    senior = on_call_senior("Anna Senior")
    assist = ask(world, open_cockpit(world))

    refused = api_as(senior).post(f"/api/v1/assist-requests/{assist.pk}/cancel/")
    hidden = api_as(world.outsider).post(f"/api/v1/assist-requests/{assist.pk}/cancel/")
    cancelled = api_as(world.technologist).post(f"/api/v1/assist-requests/{assist.pk}/cancel/")
    again = api_as(world.technologist).post(f"/api/v1/assist-requests/{assist.pk}/cancel/")

    assert refused.status_code == 403
    assert hidden.status_code == 404
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409
    # Too late to accept a cancelled request.
    late = api_as(senior).post(f"/api/v1/assist-requests/{assist.pk}/accept/")
    assert late.status_code == 409
    assert _error(late)["code"] == "taken"


def test_finish_by_the_senior_who_helped(world: World) -> None:
    senior = on_call_senior("Anna Senior")
    assist = ask(world, open_cockpit(world))
    client = api_as(senior)

    early = api_as(world.technologist).post(f"/api/v1/assist-requests/{assist.pk}/finish/")
    client.post(f"/api/v1/assist-requests/{assist.pk}/accept/")
    outsider = api_as(world.outsider).post(f"/api/v1/assist-requests/{assist.pk}/finish/")
    done = client.post(f"/api/v1/assist-requests/{assist.pk}/finish/")

    assert early.status_code == 409
    assert outsider.status_code == 404
    assert done.status_code == 200
    assert done.json()["status"] == "resolved"
    assert done.json()["ended_at"] is not None


def test_moves_need_a_sign_in(world: World) -> None:
    on_call_senior("Anna Senior")
    assist = ask(world, open_cockpit(world))

    for move in ("accept", "cancel", "finish"):
        response = api_as(None).post(f"/api/v1/assist-requests/{assist.pk}/{move}/")
        assert response.status_code == 401


# --- On-call windows ----------------------------------------------------------------------------


def _window_body(**changes: object) -> dict[str, object]:
    starts = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    body: dict[str, object] = {
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=8)).isoformat(),
        "rrule": "FREQ=WEEKLY;BYDAY=MO,WE",
        "exam_families": ["neuro"],
    }
    body.update(changes)
    return body


def test_a_senior_publishes_lists_and_deletes_their_windows(world: World) -> None:
    anna = technologist("Anna Senior", families=("neuro", "msk"))
    bert = on_call_senior("Bert Senior")
    client = api_as(anna)

    created = client.post("/api/v1/on-call-windows/", _window_body(), format="json")

    assert created.status_code == 201
    body = created.json()
    assert body["exam_families"] == ["neuro"]
    assert body["rrule"] == "FREQ=WEEKLY;BYDAY=MO,WE"
    assert body["repeats"] == "Every Mon, Wed"
    assert body["time_zone"] == "Europe/Brussels"
    assert body["technologist"] == anna.pk
    listed = client.get("/api/v1/on-call-windows/").json()["results"]
    assert [row["id"] for row in listed] == [body["id"]]
    berts = OnCallWindow.objects.get(technologist=bert)
    assert client.get(f"/api/v1/on-call-windows/{berts.pk}/").status_code == 404
    assert client.delete(f"/api/v1/on-call-windows/{berts.pk}/").status_code == 404
    assert client.delete(f"/api/v1/on-call-windows/{body['id']}/").status_code == 204
    assert list(OnCallWindow.objects.all()) == [berts]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"exam_families": ["cardiac"]}, "exam_families"),
        ({"rrule": "FREQ=HOURLY"}, "rrule"),
        ({"starts_at": "2030-01-07T08:00"}, "starts_at"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
def test_a_bad_window_names_the_field(world: World, changes: dict[str, object], field: str) -> None:
    anna = technologist("Anna Senior", families=("neuro",))

    response = api_as(anna).post("/api/v1/on-call-windows/", _window_body(**changes), format="json")

    assert response.status_code == 400
    assert field in _error(response)["fields"]
    assert not OnCallWindow.objects.exists()


@pytest.mark.parametrize("person", ["junior", "manager"])
def test_juniors_and_people_without_a_profile_publish_no_window(world: World, person: str) -> None:
    user = junior() if person == "junior" else world.manager

    response = api_as(user).post(
        "/api/v1/on-call-windows/", _window_body(exam_families=[]), format="json"
    )

    assert response.status_code == 400
    assert not OnCallWindow.objects.exists()


def test_on_call_windows_need_a_sign_in(world: World) -> None:
    assert api_as(None).get("/api/v1/on-call-windows/").status_code == 401
    assert api_as(None).post("/api/v1/on-call-windows/", _window_body()).status_code == 401


# --- The switch -------------------------------------------------------------------------------


def test_the_switch_says_whether_you_are_asked_now_and_turns_off(world: World) -> None:
    senior = on_call_senior("Anna Senior")
    other = on_call_senior("Bert Senior")
    window = OnCallWindow.objects.get(technologist=senior)
    client = api_as(senior)

    assert client.get("/api/v1/me/on-call/").json() == {
        "paused": False,
        "on_call_now": True,
        "window": window.pk,
        "until": window.ends_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "may_go_on_call": True,
    }
    paused = client.patch("/api/v1/me/on-call/", {"paused": True}, format="json")

    assert paused.status_code == 200
    assert (paused.json()["paused"], paused.json()["on_call_now"]) == (True, False)
    assist = ask(world, open_cockpit(world))
    asked = set(
        AssistNotice.objects.filter(request=assist, may_accept=True).values_list(
            "user_id", flat=True
        )
    )
    assert asked == {other.pk}


def test_a_junior_has_a_switch_but_no_schedule(world: World) -> None:
    body = api_as(junior()).get("/api/v1/me/on-call/").json()

    assert body["may_go_on_call"] is False
    assert body["on_call_now"] is False


def test_the_switch_refuses_what_it_does_not_know(world: World) -> None:
    senior = technologist("Anna Senior", seniority=Seniority.EXPERIENCED)
    client = api_as(senior)

    assert (
        client.patch("/api/v1/me/on-call/", {"paused": "sometimes"}, format="json").status_code
        == 400
    )
    assert client.patch("/api/v1/me/on-call/", {"away": True}, format="json").status_code == 400
    assert client.patch("/api/v1/me/on-call/", {}, format="json").status_code == 400


@pytest.mark.parametrize("method", ["get", "patch"])
def test_no_switch_without_a_technologist_profile(world: World, method: str) -> None:
    response = getattr(api_as(world.manager), method)(
        "/api/v1/me/on-call/", {"paused": True}, format="json"
    )

    assert response.status_code == 404
    assert "no technologist profile" in str(_error(response)["message"])
    assert getattr(api_as(None), method)("/api/v1/me/on-call/").status_code == 401
