"""The site's icon: named by every page, and at /favicon.ico, where browsers look for it anyway
(a JSON answer or an error page names none): no 404 in the console on a first visit."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_favicon_ico_leads_to_the_icon() -> None:
    response = Client().get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].startswith("/static/img/favicon")
    icon = Client().get(response["Location"])
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(icon.streaming_content)  # type: ignore[attr-defined]


def test_every_page_names_the_icon() -> None:
    for url in ("/accounts/login/", "/api/v1/"):
        page = Client().get(url, HTTP_ACCEPT="text/html").content.decode()
        assert '<link rel="icon" href="/static/img/favicon' in page, url
