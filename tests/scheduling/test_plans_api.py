"""The plans API: who may start, read, cancel and send a plan (every role), the answers' shape,
and bad input answered 400 with a message. The solver is the stand-in of plans_support."""

import pytest

from accounts.models import User
from marketplace.models import SessionPosting
from scheduling.models import Booking, Plan, PlanStatus
from scheduling.services import plans
from tests.conftest import PEOPLE, World, api_as, who
from tests.scheduling.plans_support import FakeOptimiser, install
from tests.scheduling.support import Clock

# A hospital's plan, per person (API: anonymous is 401).
HOSPITAL_PLAN = {
    "anonymous": 401,
    "outsider": 404,
    "other_manager": 404,
    "technologist": 403,
    "local_staff": 403,
    "manager": 200,
    "admin": 200,
}
# A network plan: platform admins only; for everyone else it does not exist.
NETWORK_PLAN = {**dict.fromkeys(PEOPLE, 404), "anonymous": 401, "admin": 200}


@pytest.fixture
def solver(monkeypatch, tech: User, posting: SessionPosting) -> FakeOptimiser:
    return install(monkeypatch, FakeOptimiser({posting: tech}))


@pytest.fixture
def done_plan(world: World, solver: FakeOptimiser, django_capture_on_commit_callbacks) -> Plan:
    with django_capture_on_commit_callbacks(execute=True):
        plan, _ = plans.plan_create(actor=world.manager, hospital=world.hospital)
    plan.refresh_from_db()
    return plan


@pytest.mark.parametrize("person", PEOPLE)
def test_who_may_start_a_hospital_plan(
    world: World, solver: FakeOptimiser, person: str, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        answer = api_as(who(world, person)).post(
            "/api/v1/plans/", {"scope": "hospital", "hospital": world.hospital.pk}, format="json"
        )
    expected = HOSPITAL_PLAN[person]
    assert answer.status_code == (202 if expected == 200 else expected), answer.content
    if expected == 200:
        body = answer.json()
        assert (body["scope"], body["hospital"]["id"], body["status"]) == (
            "hospital",
            world.hospital.pk,
            "queued",
        )
        assert Plan.objects.get().status == PlanStatus.DONE
    else:
        assert not Plan.objects.exists()


@pytest.mark.parametrize("person", PEOPLE)
def test_who_may_start_a_network_plan(world: World, clock: Clock, person: str) -> None:
    answer = api_as(who(world, person)).post("/api/v1/plans/", {"scope": "network"}, format="json")
    expected = {"anonymous": 401, "admin": 202}.get(person, 403)
    assert answer.status_code == expected
    assert Plan.objects.exists() == (expected == 202)


@pytest.mark.parametrize("person", PEOPLE)
def test_who_may_read_cancel_and_send_a_hospital_plan(
    world: World, done_plan: Plan, person: str
) -> None:
    client = api_as(who(world, person))
    expected = HOSPITAL_PLAN[person]
    answer = client.get(f"/api/v1/plans/{done_plan.pk}/")
    assert answer.status_code == expected
    row = done_plan.rows.get()
    if expected == 200:
        body = answer.json()
        assert body["status"] == "done"
        assert body["progress"] == {
            "phase": "done",
            "phase_label": "Done",
            "quality": "the best possible",
            "objective": 300,
            "bound": 300,
            "seconds_left": 0.0,
            "solutions": 1,
        }
        (out,) = body["rows"]
        assert out["technologist"] == {
            "id": row.technologist_id,
            "name": row.technologist.display_name,
        }
        assert out["posting"]["id"] == row.posting_id
        assert out["reasons"][0]["term"] == "licence"
        assert (out["ticked"], out["outcome"], out["booking"]) == (True, None, None)
        listed = client.get("/api/v1/plans/").json()["results"]
        assert [plan["id"] for plan in listed] == [done_plan.pk]
    else:
        cancel = client.post(f"/api/v1/plans/{done_plan.pk}/cancel/")
        send = client.post(f"/api/v1/plans/{done_plan.pk}/send/", {"rows": [row.pk]}, format="json")
        assert (cancel.status_code, send.status_code) == (expected, expected)
        assert not Booking.objects.exists()


@pytest.mark.parametrize("person", PEOPLE)
def test_who_may_read_a_network_plan(world: World, clock: Clock, person: str) -> None:
    plan, _ = plans.plan_create(actor=world.admin, hospital=None)
    answer = api_as(who(world, person)).get(f"/api/v1/plans/{plan.pk}/")
    assert answer.status_code == NETWORK_PLAN[person]


def test_send_answers_each_rows_outcome(world: World, done_plan: Plan) -> None:
    row = done_plan.rows.get()
    answer = api_as(world.manager).post(
        f"/api/v1/plans/{done_plan.pk}/send/", {"rows": [row.pk]}, format="json"
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "sent"
    (out,) = body["rows"]
    booking = Booking.objects.get()
    assert (out["outcome"], out["booking"]) == ("sent", booking.pk)
    again = api_as(world.manager).post(
        f"/api/v1/plans/{done_plan.pk}/send/", {"rows": [row.pk]}, format="json"
    )
    assert again.status_code == 409
    assert again.json()["error"]["message"] == "This plan was already sent."


def test_cancel_a_queued_plan_and_then_409(world: World, clock: Clock) -> None:
    plan, _ = plans.plan_create(actor=world.manager, hospital=world.hospital)
    client = api_as(world.manager)
    answer = client.post(f"/api/v1/plans/{plan.pk}/cancel/")
    assert answer.status_code == 202
    assert (answer.json()["status"], answer.json()["cancel_requested"]) == ("cancelled", True)
    assert client.post(f"/api/v1/plans/{plan.pk}/cancel/").status_code == 409


def test_a_second_start_answers_the_running_plan(world: World, clock: Clock) -> None:
    client = api_as(world.manager)
    body = {"scope": "hospital", "hospital": world.hospital.pk}
    first = client.post("/api/v1/plans/", body, format="json")
    second = client.post("/api/v1/plans/", body, format="json")
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["id"] == second.json()["id"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"scope": "galaxy"},
        {"scope": "hospital"},
        {"scope": "network", "hospital": 1},
        {"scope": "hospital", "hospital": "x"},
        {"scope": "hospital", "hospital": 0},
        {"scope": "hospital", "hospital": 10**30},
        {"scope": "hospital", "hospital": 1, "horizon_days": 0},
        {"scope": "hospital", "hospital": 1, "horizon_days": 29},
        {"scope": "hospital", "hospital": 1, "horizon_days": "many"},
        {"scope": "hospital", "hospital": 1, "time_limit_s": 0},
        {"scope": "hospital", "hospital": 1, "time_limit_s": 1e9},
        {"scope": "hospital", "hospital": 1, "surprise": True},
        ["not", "an", "object"],
    ],
)
def test_bad_starts_are_400_with_a_message(world: World, clock: Clock, body) -> None:
    answer = api_as(world.manager).post("/api/v1/plans/", body, format="json")
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["message"]
    assert not Plan.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"rows": []},
        {"rows": "1"},
        {"rows": ["x"]},
        {"rows": [0]},
        {"rows": [1, 1]},
        {"rows": list(range(1, plans.MAX_SEND_ROWS + 2))},
        {"rows": [10**6]},
    ],
)
def test_bad_sends_are_400_with_a_message(world: World, done_plan: Plan, body) -> None:
    answer = api_as(world.manager).post(f"/api/v1/plans/{done_plan.pk}/send/", body, format="json")
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["message"]
    assert not Booking.objects.exists()


def test_the_plans_api_is_in_the_schema(world: World) -> None:
    schema = api_as(world.manager).get("/api/schema/?format=json").json()
    assert {
        "/api/v1/plans/",
        "/api/v1/plans/{id}/",
        "/api/v1/plans/{id}/cancel/",
        "/api/v1/plans/{id}/send/",
    } <= set(schema["paths"])
    assert "PlanRow" in schema["components"]["schemas"]


def test_the_horizon_and_time_limit_asked_for_are_kept(world: World, clock: Clock) -> None:
    answer = api_as(world.manager).post(
        "/api/v1/plans/",
        {
            "scope": "hospital",
            "hospital": world.hospital.pk,
            "horizon_days": 3,
            "time_limit_s": 2.5,
        },
        format="json",
    )
    assert answer.status_code == 202
    body = answer.json()
    assert (body["horizon_start"], body["horizon_end"]) == (
        "2026-11-23T09:00:00Z",
        "2026-11-26T09:00:00Z",
    )
    assert body["time_limit_s"] == 2.5
    assert body["rows"] == []
