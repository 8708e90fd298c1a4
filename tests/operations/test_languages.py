"""The operations pages and downloads in Dutch and French: a CSV opens in a Belgian spreadsheet
(";" and decimal commas) unless the download asks for the other dialect, the dashboard's figure
names and dates come in the reader's language, and the demo's guide speaks the language asked."""

import codecs
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from core.spreadsheets import BYTE_ORDER_MARK
from tests.conftest import World, client_for
from tests.operations.test_audit_page import NOW as AUDIT_NOW
from tests.operations.test_audit_page import trail  # noqa: F401 - a fixture used below
from tests.operations.test_dashboard_pages import figures  # noqa: F401 - a fixture used below

PERIOD = {"start": "2026-09-07", "end": "2026-11-29", "granularity": "week"}


@pytest.fixture(autouse=True)
def _english_after() -> Iterator[None]:
    """A request in Dutch must not leave Dutch behind for the next test."""
    yield
    translation.activate("en")


def speaking(language: str, user: object) -> Client:
    client = client_for(user)  # type: ignore[arg-type]
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    return client


def _dashboard_csv(client: Client, world: World, **extra: str) -> tuple[str, str]:
    url = reverse("hospital_dashboard_csv", args=[world.hospital.pk, "hours_recovered"])
    response = client.get(url, {**PERIOD, **extra})
    assert response.status_code == 200, response.content[:300]
    # As Excel reads it: a byte order mark (Dutch and French files open with one) says UTF-8.
    return response.content.decode("utf-8-sig"), response["Content-Type"]


def test_a_dashboard_csv_in_dutch_opens_with_semicolons_and_decimal_commas(
    world: World,
    figures: list,  # noqa: F811
) -> None:
    text, content_type = _dashboard_csv(speaking("nl-BE,nl;q=0.9", world.manager), world)
    assert content_type == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    # The hand-made figures: 12.50 h, then a gap, then 30 h; 40, 40 and 42.25 posted hours.
    assert [row[1:] for row in rows[1:]] == [["12,5", "40"], ["", "40"], ["30", "42,25"]]
    assert rows[1][0] == "Week van 7 sep 2026"  # the bucket's label in Dutch
    assert "," not in text.splitlines()[0]  # no comma splits a Dutch header


def test_a_dashboard_csv_in_english_keeps_commas_and_decimal_points(
    world: World,
    figures: list,  # noqa: F811
) -> None:
    text, _type = _dashboard_csv(speaking("en", world.manager), world)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Week", "Hours recovered (h)", "Posted hours <b> (h)"]
    assert [row[1:] for row in rows[1:]] == [["12.5", "40"], ["", "40"], ["30", "42.25"]]


def test_the_download_may_ask_for_the_other_dialect(
    world: World,
    figures: list,  # noqa: F811
) -> None:
    dutch = speaking("nl-BE", world.manager)
    text, _type = _dashboard_csv(dutch, world, separator="comma")
    rows = list(csv.reader(io.StringIO(text)))
    assert [row[1:] for row in rows[1:]] == [["12.5", "40"], ["", "40"], ["30", "42.25"]]
    english = speaking("en", world.manager)
    text, _type = _dashboard_csv(english, world, separator="semicolon")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["Week", "Hours recovered (h)", "Posted hours <b> (h)"]
    assert rows[3][1:] == ["30", "42,25"]
    # Something else is the language's own.
    text, _type = _dashboard_csv(dutch, world, separator="tab")
    assert list(csv.reader(io.StringIO(text), delimiter=";"))[1][1] == "12,5"


def test_a_french_download_opens_with_the_byte_order_mark(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Excel on a Belgian Windows machine reads a file without the mark in its own code page
    ("Heures publiÃ©es"); with it, as UTF-8, as the ledger's statement. The real figures."""
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 12, 3, 10, 0, tzinfo=UTC))
    url = reverse("hospital_dashboard_csv", args=[world.hospital.pk, "hours_recovered"])
    period = {"start": "2026-09-11", "end": "2026-12-03"}
    response = speaking("fr-BE", world.manager).get(url, period)
    assert response.status_code == 200
    assert response.content.startswith(codecs.BOM_UTF8)
    text = response.content.decode("utf-8-sig")  # as Excel reads a file with the mark
    header = next(csv.reader(io.StringIO(text), delimiter=";"))
    assert header[0] == "Semaine"
    assert header[1].startswith("Heures")
    assert any(column.startswith("Heures publiées") for column in header), header
    # The other dialect on request keeps the mark: Excel still reads the file.
    comma = speaking("fr-BE", world.manager).get(url, {**period, "separator": "comma"})
    assert comma.content.startswith(codecs.BOM_UTF8)
    # English files stay as they were.
    english = speaking("en", world.manager).get(url, period)
    assert not english.content.startswith(codecs.BOM_UTF8)
    assert english.content.decode().startswith("Week,")


def test_a_french_audit_csv_opens_with_the_byte_order_mark(trail: World) -> None:  # noqa: F811
    response = speaking("fr-BE", trail.manager).get(
        reverse("hospital_audit_csv", args=[trail.hospital.pk]),
        {"start": "2026-11-01", "end": "2026-11-30"},
    )
    assert response.status_code == 200
    content = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert content.startswith(codecs.BOM_UTF8)
    assert content.decode("utf-8-sig").startswith("Heure;")


def test_the_breakdown_csv_in_french_keeps_formulas_from_running(
    world: World,
    figures: list,  # noqa: F811
) -> None:
    text, _type = _dashboard_csv(speaking("fr-BE", world.manager), world, table="breakdown")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[1:] == [["Campus Nord", "'=MR 1 <script>", "42,5"], ["Sud", "'-MR 2", ""]]


def test_the_dashboard_page_offers_both_dialects(
    world: World,
    figures: list,  # noqa: F811
) -> None:
    response = speaking("nl-BE", world.manager).get(
        reverse("hospital_dashboard", args=[world.hospital.pk]), PERIOD
    )
    html = unescape(response.content.decode())
    assert "CSV (puntkomma's, decimale komma)" in html
    assert "CSV (komma's, decimale punt)" in html
    assert "Excel, ," not in html  # no bare comma in parentheses
    assert "&separator=semicolon" in html
    assert "&separator=comma" in html


def test_the_hospital_dashboard_in_french(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real figures (empty), as a Belgian French reader gets them."""
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 12, 3, 10, 0, tzinfo=UTC))
    response = speaking("fr-BE,fr;q=0.9", world.manager).get(
        reverse("hospital_dashboard", args=[world.hospital.pk]),
        {"start": "2026-09-11", "end": "2026-12-03"},
    )
    assert response.status_code == 200
    html = unescape(response.content.decode())
    assert '<html lang="fr"' in html
    for name in (
        "Heures de scanner récupérées",
        "Taux de remplissage",
        "Délai de remplissage",
        "Fiabilité, des deux côtés",
        "Réciprocité",
        "Couverture à venir",
        "Tableau de bord · Hôpital Sainte-Claire",
    ):
        assert name in html, name
    assert "3 décembre 2026" in html  # the period's last day
    assert "Semaine du 30 nov 2026 (jusqu'au 3 déc)" in html  # the last week, cut short
    assert 'role="img"' in html
    assert "graphique linéaire" in html
    assert "Scanner hours recovered" not in html


def test_the_audit_csv_in_dutch(trail: World) -> None:  # noqa: F811
    client = speaking("nl-BE", trail.manager)
    response = client.get(
        reverse("hospital_audit_csv", args=[trail.hospital.pk]),
        {"start": "2026-11-01", "end": "2026-11-30"},
    )
    assert response.status_code == 200
    chunks = list(response.streaming_content)  # type: ignore[attr-defined]
    assert chunks[0] == BYTE_ORDER_MARK.encode()  # a chunk of its own, before the rows
    text = b"".join(chunks).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == [
        "Tijd",
        "Tijdzone",
        "Persoon",
        "Wat",
        "Actie",
        "Object",
        "Object-id",
        "Details",
    ]
    what = {row[3] for row in rows[1:]}
    assert what == {"Site gewijzigd", "Toesteltoken van de scanner vernieuwd"}
    assert all(row[1] == "Europe/Brussels" for row in rows[1:])
    # The formula guard holds in Dutch too.
    assert any(row[7].startswith("{") for row in rows[1:])
    # And the comma dialect on request.
    response = client.get(
        reverse("hospital_audit_csv", args=[trail.hospital.pk]),
        {"start": "2026-11-01", "end": "2026-11-30", "separator": "comma"},
    )
    text = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    assert next(csv.reader(io.StringIO(text)))[0] == "Tijd"


def test_the_audit_page_in_french(trail: World) -> None:  # noqa: F811
    assert timezone.now() == AUDIT_NOW
    response = speaking("fr-BE", trail.manager).get(
        reverse("hospital_audit", args=[trail.hospital.pk]),
        {"start": "2026-11-01", "end": "2026-11-30"},
    )
    html = unescape(response.content.decode())
    assert "Journal d'audit · Hôpital Sainte-Claire" in html
    assert "3 événements" in html
    assert "Site modifié" in html
    assert "CSV (points-virgules, virgule décimale)" in html


@pytest.mark.django_db
def test_load_demo_prints_its_guide_in_dutch() -> None:
    out = io.StringIO()
    call_command("load_demo", "--language", "nl", stdout=out)
    guide = out.getvalue()
    assert "Demogegevens klaar. Elke demo-login gebruikt het wachtwoord 'wescan-demo':" in guide
    assert "platformbeheerder" in guide
    assert "tweede factor" in guide
    assert "Marktplaats:" in guide
    assert "Seniors die nu van wacht zijn" in guide
    assert "Demo data ready" not in guide
    assert translation.get_language() != "nl"  # the command gives the language back


def test_demo_totp_speaks_the_environments_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGE", "")
    monkeypatch.setenv("LC_ALL", "")
    monkeypatch.setenv("LANG", "fr_BE.UTF-8")
    out = io.StringIO()
    call_command("demo_totp", stdout=out)
    assert "le code de chaque connexion de démo" in out.getvalue()
