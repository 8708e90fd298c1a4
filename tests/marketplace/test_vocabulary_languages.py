"""The vocabularies read in the reader's language: exam families from the catalogues (the seeded
names are marked in their migration), spoken languages by Django's own names for them. The
stored names, and so the API, stay English."""

import re

import pytest
from django.test import Client
from django.utils import translation

from accounts.models import User
from marketplace.models import ExamFamily, Language
from tests.conftest import World

pytestmark = pytest.mark.django_db

BROWSERS = {"nl": "nl-BE,nl;q=0.9,en;q=0.5", "fr": "fr-BE,fr;q=0.9,en;q=0.5"}
WORDS = {
    "en": ("Cardiac", "Dutch (nl)"),
    "nl": ("Cardiaal", "Nederlands (nl)"),
    "fr": ("Cardiaque", "Néerlandais (nl)"),
}


def _page(world: World, user_name: str, url: str, language: str) -> str:
    client = Client()
    client.force_login(getattr(world, user_name))
    headers = {"HTTP_ACCEPT_LANGUAGE": BROWSERS[language]} if language in BROWSERS else {}
    response = client.get(url, **headers)
    assert response.status_code == 200
    return response.content.decode()


def _labels(html: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", label).strip()
        for label in re.findall(r"<label[^>]*>(.*?)</label>", html, re.S)
    ]


@pytest.mark.parametrize("language", ["en", "nl", "fr"])
def test_the_posting_form_lists_families_and_languages_in_the_readers_language(
    world: World, language: str
) -> None:
    world.scanner.cockpit_ready = True
    world.scanner.save(update_fields=["cockpit_ready"])
    page = _page(world, "manager", f"/hospitals/{world.hospital.pk}/postings/new/", language)
    family, spoken = WORDS[language]
    labels = _labels(page)
    assert family in labels
    assert spoken in labels


@pytest.mark.parametrize("language", ["en", "nl", "fr"])
def test_the_technologist_profile_lists_them_in_the_readers_language(
    world: World, language: str
) -> None:
    page = _page(world, "technologist", "/me/technologist/", language)
    family, spoken = WORDS[language]
    labels = _labels(page)
    assert family in labels
    assert spoken in labels


def test_languages_are_listed_by_the_name_the_reader_sees(world: World) -> None:
    from marketplace.forms import PostingForm

    with translation.override("fr"):
        field = PostingForm(hospital=world.hospital).fields["languages"]
        names = [str(label) for _, label in field.choices]  # type: ignore[attr-defined]
    # Néerlandais among the N's, not where "Dutch" would be; Égyptien-like accents ignored.
    assert names.index("Néerlandais (nl)") > names.index("Allemand (de)")
    assert names.index("Néerlandais (nl)") < names.index("Polonais (pl)")
    assert names.index("Espagnol (es)") < names.index("Estonien (et)")


def test_stored_names_and_unknown_codes_stay_english() -> None:
    with translation.override("fr"):
        assert ExamFamily.objects.get(code="cardiac").name == "Cardiac"
        assert Language.objects.get(code="nl").name == "Dutch"
        # Neither Django nor ISO 639's catalogue has a French name for Afar: the stored one.
        assert Language.objects.get(code="aa").label == "Afar"
        # A family an admin adds later shows as typed.
        assert ExamFamily(code="dental", name="Dental").label == "Dental"


@pytest.mark.parametrize(
    ("language", "names"),
    [
        ("fr", {"no": "Norvégien", "to": "Tongien", "bi": "Bichelamar"}),
        ("nl", {"no": "Noors", "to": "Tonga", "bi": "Bislama"}),
        ("en", {"no": "Norwegian", "to": "Tonga", "bi": "Bislama"}),
    ],
)
def test_languages_django_does_not_name_come_from_iso_639s_catalogue(
    language: str, names: dict[str, str]
) -> None:
    """A new user saw "Norwegian (no)" and "Tonga (to)" in French and Dutch lists: Django has
    no name for them, ISO 639's catalogue (pycountry's) has, without its bracketed part."""
    with translation.override(language):
        labels = {code: Language.objects.get(code=code).label for code in names}
    assert labels == names


# --- The cockpit's pages print the families through the same label ------------------------------


def _get(user: User, url: str, language: str) -> str:
    from tests.conftest import client_for

    response = client_for(user).get(url, HTTP_ACCEPT_LANGUAGE=BROWSERS[language])
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_the_cockpit_help_form_on_call_page_and_requests_read_in_the_readers_language(
    world: World, language: str
) -> None:
    from cockpit.selectors import assist_wanted_message
    from tests.cockpit.support import open_cockpit
    from tests.cockpit.test_assist_pages import ask, on_call_senior

    family = WORDS[language][0]
    cockpit = open_cockpit(world)
    console = _get(world.technologist, f"/cockpit/{cockpit.pk}/", language)
    assert f'<option value="cardiac">{family}</option>' in console

    senior = on_call_senior("Anna Senior", families=("neuro", "cardiac"))
    assert f"> {family}</label>" in _get(senior, "/me/on-call/", language)

    assist = ask(world, cockpit, family="cardiac")
    for user, url in ((senior, "/assist/"), (world.technologist, "/assist/history/")):
        assert family in _get(user, url, language)

    # The notice is lazy: each recipient reads the family in their own language.
    message = assist_wanted_message(assist)
    with translation.override(language):
        assert family in str(message)
    with translation.override("en"):
        assert "Cardiac" in str(message)
