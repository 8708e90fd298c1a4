"""The ledger pages of a hospital: balances in words, monthly statements on the hospital's wall
clock with a CSV download, for its managers only; a month that is not one is a clear 404."""

import csv
import io

import pytest

from scheduling import ledger
from tests.conftest import MANAGER_PAGE, PEOPLE, World, client_for, who
from tests.scheduling.test_ledger import (  # noqa: F401 (fixtures)
    independent,
    lent,
    lent_by_other,
    traded,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["ledger/", "ledger/2026-11/", "ledger/2026-11/?format=csv"])
@pytest.mark.parametrize("role", PEOPLE)
def test_ledger_pages_are_for_the_hospitals_managers(world: World, role: str, page: str) -> None:
    response = client_for(who(world, role)).get(f"/hospitals/{world.hospital.pk}/{page}")
    assert response.status_code == MANAGER_PAGE[role]
    if role == "anonymous":
        assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.usefixtures("traded")
def test_the_ledger_page_says_who_owes_whom(world: World) -> None:
    response = client_for(world.manager).get(f"/hospitals/{world.hospital.pk}/ledger/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Ziekenhuis Scheldeland owes 3.50 h" in page
    assert "Hôpital Sainte-Claire owes 2 h" in page  # to Ines Dupont, independent
    assert "independent technologist" in page
    assert "Europe/Brussels" in page
    # This month (the clock is on 2 December) first among the statements; the tab is current.
    assert response.context["months"][0] == ledger.Month(2026, 12)
    assert f'href="/hospitals/{world.hospital.pk}/ledger/2026-11/"' in page
    assert 'aria-current="page">Ledger<' in page
    # Sainte-Claire's record of facts: the two sessions it received, 6 hours.
    assert response.context["record"].completed == 2
    assert "(6 h)" in page

    theirs = client_for(world.other_manager).get(f"/hospitals/{world.other_hospital.pk}/ledger/")
    assert "Ziekenhuis Scheldeland owes 3.50 h" in theirs.content.decode()


def test_an_empty_ledger_says_what_will_appear(world: World) -> None:
    response = client_for(world.manager).get(f"/hospitals/{world.hospital.pk}/ledger/")
    assert "No hours given or received yet" in response.content.decode()


@pytest.mark.usefixtures("traded")
def test_the_month_picker_opens_that_months_statement(world: World) -> None:
    client = client_for(world.manager)
    response = client.get(f"/hospitals/{world.hospital.pk}/ledger/", {"month": "2026-12"})
    assert response.status_code == 302
    assert response["Location"] == f"/hospitals/{world.hospital.pk}/ledger/2026-12/"
    wrong = client.get(f"/hospitals/{world.hospital.pk}/ledger/", {"month": "2026-13"})
    assert wrong.status_code == 404
    assert "give a month as YYYY-MM" in wrong.content.decode()


@pytest.mark.usefixtures("traded")
def test_a_statement_page(world: World) -> None:
    response = client_for(world.manager).get(f"/hospitals/{world.hospital.pk}/ledger/2026-12/")
    assert response.status_code == 200
    page = response.content.decode()
    statement = response.context["statement"]
    assert [(line.direction, line.counterpart.name) for line in statement.lines] == [
        ("given", "Ziekenhuis Scheldeland"),
        ("received", "Ziekenhuis Scheldeland"),
        ("received", "Ines Dupont"),
    ]
    assert "Statement, December 2026" in page
    assert '<dd id="opening">3.50 h</dd>' in page
    assert '<dd id="given">4 h</dd>' in page
    assert '<dd id="received">6 h</dd>' in page
    assert "<strong>1.50 h</strong>" in page
    # Times in Brussels: the late cancellation at 00:30 on 1 December.
    assert "Tue 1 Dec, 00:30" in page
    assert "Late cancellation by the hospital" in page
    assert page.count('data-direction="received"') == 2
    assert f'href="/bookings/{statement.lines[0].booking.pk}/"' in page
    # Months on both sides, and the CSV of the same statement.
    assert "← Nov 2026" in page
    assert "Jan 2027 →" in page
    assert 'href="?format=csv"' in page


@pytest.mark.usefixtures("traded")
def test_a_statement_with_one_counterpart(world: World) -> None:
    key = f"h{world.other_hospital.pk}"
    response = client_for(world.manager).get(
        f"/hospitals/{world.hospital.pk}/ledger/2026-12/", {"counterpart": key}
    )
    page = response.content.decode()
    assert len(response.context["statement"].lines) == 2
    assert "Hôpital Sainte-Claire with Ziekenhuis Scheldeland" in page
    assert f'href="?counterpart={key}&amp;format=csv"' in page
    assert f"/ledger/2026-11/?counterpart={key}" in page  # the month links keep it

    unknown = client_for(world.manager).get(
        f"/hospitals/{world.hospital.pk}/ledger/2026-12/", {"counterpart": "h999999"}
    )
    assert unknown.status_code == 404


@pytest.mark.usefixtures("traded")
def test_the_statement_downloads_as_csv(world: World) -> None:
    response = client_for(world.manager).get(
        f"/hospitals/{world.hospital.pk}/ledger/2026-12/", {"format": "csv"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="wescan-ledger-hopital-sainte-claire-2026-12.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [
        (r["Date"], r["Direction"], r["Counterpart"], r["Balance after"], r["Scanner"])
        for r in rows
    ] == [
        ("2026-12-01 00:30", "given", "Ziekenhuis Scheldeland", "7.50", "MRI A"),
        ("2026-12-01 19:00", "received", "Ziekenhuis Scheldeland", "3.50", "MR 1"),
        ("2026-12-02 10:00", "received", "Ines Dupont", "1.50", "MR 1"),
    ]
    assert {r["Time zone"] for r in rows} == {"Europe/Brussels"}
    assert rows[1]["Technologist"] == "Bram Claes"


@pytest.mark.parametrize(
    "month", ["2026-13", "1999-01", "2100-01", "2026-1", "latest", "0000-01", "0000-00"]
)
def test_a_month_that_is_not_one_is_a_clear_404(world: World, month: str) -> None:
    response = client_for(world.manager).get(f"/hospitals/{world.hospital.pk}/ledger/{month}/")
    assert response.status_code == 404
    assert "give a month as YYYY-MM, between 2000-01 and 2099-12" in response.content.decode()


@pytest.mark.usefixtures("traded")
def test_a_formula_in_a_name_stays_text_in_the_csv(world: World) -> None:
    world.other_hospital.name = "=HYPERLINK(1)"
    world.other_hospital.save(update_fields=["name"])
    response = client_for(world.manager).get(
        f"/hospitals/{world.hospital.pk}/ledger/2026-12/", {"format": "csv"}
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows[0]["Counterpart"] == "'=HYPERLINK(1)"
