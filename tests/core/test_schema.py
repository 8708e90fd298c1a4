import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_is_valid_and_complete() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    paths = set(schema["paths"])
    for path in (
        "/api/v1/hospitals/",
        "/api/v1/sites/{id}/",
        "/api/v1/scanners/{id}/rotate-token/",
        "/api/v1/memberships/",
        "/api/v1/invitations/accept/",
        "/api/v1/auth/token/",
        "/api/v1/me/",
    ):
        assert path in paths
    scanner_id = schema["paths"]["/api/v1/scanners/{id}/"]["get"]["parameters"][0]
    assert scanner_id["schema"]["type"] == "integer"


def test_schema_and_docs_are_served() -> None:
    client = Client()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "WeScan API"
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    # WeScan's own page (wescan/api_docs.py), linking the schema; no Swagger UI, no script of
    # its own, nothing from a CDN (a hospital network may block them).
    assert 'href="/api/schema/"' in page
    assert "swagger" not in page.lower()
    assert "cdn.jsdelivr.net" not in page
