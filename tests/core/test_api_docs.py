"""The API reference (/api/docs/, wescan/api_docs.py): drf-spectacular's schema as WeScan's own
pages, in the reader's language, the schema's English marked as English."""

import itertools
import re
from html import unescape

import pytest
from django.test import Client

from wescan.api_docs import part_urls, reference

pytestmark = pytest.mark.django_db


def _headings(page: str) -> list[int]:
    return [int(level) for level in re.findall(r"<h([1-6])[\s>]", page)]


def test_every_operation_of_the_schema_is_on_a_page() -> None:
    docs = reference()
    pages = "".join(Client().get(url).content.decode() for url in part_urls())
    operations = [op for group in docs.groups for op in group.operations]
    assert len(operations) > 80
    for op in operations:
        assert f'id="{op.id}"' in pages, op.id
    assert 'id="schema-Error"' in pages


@pytest.mark.parametrize(
    ("language", "heading", "token_words"),
    [
        ("nl-BE", "Aan de slag", "persoonlijk toegangstoken"),
        ("fr-BE", "Pour commencer", "jeton d&#x27;accès personnel"),
        ("en-GB", "Getting started", "personal access token"),
    ],
)
def test_the_first_page_speaks_the_readers_language(
    language: str, heading: str, token_words: str
) -> None:
    page = Client().get("/api/docs/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f'<html lang="{language[:2]}">' in page
    assert heading in page
    assert token_words.replace("&#x27;", "'") in page.replace("&#x27;", "'")
    assert "<code>Authorization: Token wst_…</code>" in page
    assert 'href="/account/tokens/"' in page
    assert 'href="/api/schema/"' in page
    # The schema's own description is the code's English, said so.
    assert '<div lang="en" class="api-text"><p>Hospitals, sites, scanners' in page


@pytest.mark.parametrize(
    ("language", "unauthenticated", "too_large"),
    [
        ("nl-BE", "Niet aangemeld, of het token is onbekend.", "groter dan 1024 KiB"),
        ("fr-BE", "Pas connecté, ou le jeton est inconnu.", "dépasse 1024 Kio"),
        ("en-GB", "Not signed in, or the token is unknown.", "larger than 1024 KiB"),
    ],
)
def test_the_common_errors_table_speaks_the_readers_language(
    language: str, unauthenticated: str, too_large: str
) -> None:
    """The errors table is the page's own text: in the reader's language, unmarked; only the
    schema's own description stays English (lang="en")."""
    page = Client().get("/api/docs/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    table = page.split('id="api-errors"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(
        r'<tr id="error-(\d+)">.*?<div( lang="en")? class="api-text">(.*?)</div>', table, re.S
    )
    assert [status for status, _lang, _text in rows][:3] == ["400", "401", "403"]
    assert all(lang == "" for _status, lang, _text in rows), rows
    text = unescape(table)
    assert unauthenticated in text
    assert too_large in text
    assert "<code>fields</code>" in table  # the code in a translated sentence stays code
    if language != "en-GB":
        for english in ("Not signed in", "The request is not valid", "No such object"):
            assert english not in text
    # The only English left in the first page's text is marked so: the schema's description.
    content = page.split('<div class="api-docs">', 1)[1]
    assert content.count('lang="en"') == 1


def test_the_schema_keeps_its_error_descriptions_in_english() -> None:
    schema = (
        Client()
        .get(
            "/api/schema/",
            HTTP_ACCEPT="application/vnd.oai.openapi+json",
            HTTP_ACCEPT_LANGUAGE="fr-BE",
        )
        .json()
    )
    answers = schema["paths"]["/api/v1/postings/"]["post"]["responses"]
    assert answers["401"]["description"] == "Not signed in, or the token is unknown."


def test_a_part_has_its_headings_in_order_captions_and_an_example() -> None:
    page = Client().get("/api/docs/?part=postings", HTTP_ACCEPT_LANGUAGE="nl-BE").content.decode()
    levels = _headings(page)
    assert levels[0] == 1
    assert levels.count(1) == 1
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), levels
    assert "<caption>Parameters van GET /api/v1/postings/</caption>" in page
    assert '<span class="api-method api-post">POST</span> <code>/api/v1/postings/</code>' in page
    assert 'curl -X POST "http://testserver/api/v1/postings/"' in page
    assert "Authorization: Token wst_…" in page
    assert '<a href="/api/docs/#error-401"><code>401</code></a>' in page


def test_an_unknown_part_is_not_found() -> None:
    assert Client().get("/api/docs/?part=no-such-thing").status_code == 404
