"""/healthz (core.health): the load balancer's check of each Daphne reads nothing; `?deep` asks
the database and Redis and names what is down."""

import pytest
from django.test import Client

from tests.core.test_settings import PRODUCTION_ENV, _manage


def test_healthz_answers_without_a_query_or_a_cookie(client: Client) -> None:
    # No django_db mark: any query would fail the test.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert not response.cookies
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_read_only(client: Client) -> None:
    response = client.post("/healthz")
    assert response.status_code == 405


@pytest.mark.django_db
def test_deep_healthz_asks_the_database_and_redis(client: Client, settings: object) -> None:
    response = client.get("/healthz?deep")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["redis"] in {"ok", "not used"}  # "not used" in the embedded mode


@pytest.mark.django_db
def test_deep_healthz_names_what_is_down(client: Client, settings: object) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]  # nothing listens
    response = client.get("/healthz?deep")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["database"] == "ok"
    assert body["redis"].startswith("down: ")


def test_production_redirects_to_https_except_the_balancers_check() -> None:
    """Behind the balancer, people's requests arrive with X-Forwarded-Proto; its health checks
    reach each Daphne over plain http and must not read a redirect as a dead server. Neither
    answer needs the database (unreachable here)."""
    code = (
        "from django.test import Client;"
        "c = Client(HTTP_HOST='wescan.example.org');"
        "print(c.get('/healthz').status_code, c.get('/accounts/login/').status_code)"
    )
    result = _manage("shell", "--no-imports", "-c", code, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "301"]
