"""The database or Redis not answering (a restart, a crash) is an outage to wait out: the request
is answered 503 with Retry-After and a sentence saying which piece, in the API's error shape or
as a page that needs neither piece, never 500. An error the server answered stays a 500."""

from typing import Any

import psycopg
import pytest
import redis
from django.db import utils as db_errors
from django.test import Client
from rest_framework.test import APIClient

from core.outage import piece_unavailable
from tests.conftest import World

pytestmark = pytest.mark.django_db


def _lost_database() -> db_errors.OperationalError:
    """What Django raises when PostgreSQL ended the connection (a fast shutdown)."""
    try:
        raise psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    except psycopg.Error as cause:
        try:
            raise db_errors.OperationalError(*cause.args) from cause
        except db_errors.OperationalError as wrapped:
            return wrapped


def test_lost_connections_name_their_piece_and_answered_errors_do_not() -> None:
    assert piece_unavailable(_lost_database()) == "database"
    assert piece_unavailable(psycopg.OperationalError("connection refused")) == "database"
    assert piece_unavailable(db_errors.InterfaceError("connection already closed")) == "database"
    assert piece_unavailable(redis.ConnectionError("Connection refused")) == "redis"
    # The server answered: a bug to see, not an outage.
    assert piece_unavailable(psycopg.errors.DeadlockDetected("deadlock detected")) is None
    assert piece_unavailable(db_errors.OperationalError("no such table: x")) is None
    assert piece_unavailable(RuntimeError("the disk is on fire")) is None


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (_lost_database, "The database is not answering just now."),
        (lambda: redis.ConnectionError("Connection refused"), "Redis is not answering just now."),
    ],
)
def test_an_api_request_meeting_an_outage_answers_503_with_retry_after(
    world: World, monkeypatch: pytest.MonkeyPatch, failure: Any, message: str
) -> None:
    def broken(**kwargs: Any) -> Any:
        raise failure()

    monkeypatch.setattr("marketplace.api.selectors.hospital_list", broken)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(world.manager)
    response = client.get("/api/v1/hospitals/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert error["message"].startswith(message)


def test_a_page_whose_session_cannot_load_answers_the_503_page(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading the session fails in a middleware, before any view: Django's handler500 answers,
    and it renders without the request's context (whose processors would read the database)."""
    client = Client(raise_request_exception=False)
    client.force_login(world.manager)

    def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise _lost_database()

    monkeypatch.setattr("django.contrib.sessions.backends.db.SessionStore.load", broken)
    response = client.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/html")
    assert "The database is not answering just now." in response.content.decode()


def test_an_error_the_database_answered_stays_a_500(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: Any) -> Any:
        raise db_errors.ProgrammingError('relation "x" does not exist')

    monkeypatch.setattr("marketplace.api.selectors.hospital_list", broken)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(world.manager)
    assert client.get("/api/v1/hospitals/").status_code == 500
