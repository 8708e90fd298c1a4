"""The dashboard pages as people get them: each figure's chart, the table beside it holding
exactly the numbers drawn, the CSV of each table, the period named, a bad period told with the
form kept, and nobody seeing a hospital that is not theirs.

The figures here are made by hand (`operations.views.dashboard_for` replaced): these tests pin
the layout of any dashboard; the figures themselves are tested in tests/operations/test_metrics*."""

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.errors import ValidationFailed
from marketplace.models import Hospital, Role
from operations import charts, views
from operations.charts import cell_text
from operations.dashboard import period_from
from operations.figures import Chart, Dashboard, Period, Section, Series, Table, Value
from tests.conftest import World, client_for
from tests.factories import MembershipFactory, UserFactory

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def hand_made(hospital: Hospital | None, period: Period) -> Dashboard:
    """Three figures: a line chart with a gap, bars with a negative value, and nothing at all."""
    labels = tuple(period.bucket_label(bucket) for bucket in period.buckets()[:3])
    hours = Section(
        key="hours_recovered",
        title="Scanner hours recovered",
        definition="Exam hours run through WeScan cockpits, from the cockpit's own start and end.",
        headline=(
            Value("Hours recovered", Decimal("42.50"), Decimal("30"), "h"),
            Value("Share of posted hours", Decimal("61.2"), Decimal("61.2"), "%"),
            Value("Exams", 12, None, ""),
        ),
        chart=Chart(
            kind="line",
            unit="h",
            axis="Week",
            labels=labels,
            series=(
                Series("Hours recovered", (Decimal("12.50"), None, 30)),
                Series("Posted hours <b>", (40, 40, Decimal("42.25"))),
            ),
        ),
        breakdown=Table(
            columns=("Site", "Scanner", "Hours"),
            rows=(("Campus Nord", "=MR 1 <script>", Decimal("42.50")), ("Sud", "-MR 2", None)),
        ),
    )
    reciprocity = Section(
        key="reciprocity",
        title="Reciprocity",
        definition="Hours given minus hours received, with each counterpart.",
        headline=(Value("Balance", Decimal("-3.5"), Decimal("2"), "h"),),
        chart=Chart(
            kind="bar",
            unit="h",
            axis="Counterpart",
            labels=("Ziekenhuis Scheldeland", "Clinique <du> Parc"),
            series=(Series("Given", (5, 0)), Series("Received", (Decimal("8.5"), 2))),
        ),
        breakdown=None,
    )
    help_section = Section(
        key="help",
        title="Help",
        definition="Requests for help.",
        headline=(),
        chart=Chart(kind="line", unit="", axis="Week", labels=labels, series=()),
        breakdown=Table(columns=("Hospital", "Requests"), rows=()),
    )
    return Dashboard(
        scope=hospital.name if hospital else "The WeScan network",
        hospital_id=hospital.pk if hospital else None,
        period=period,
        previous=period.previous(),
        sections=(hours, reciprocity, help_section),
    )


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The dashboard is the hand-made one; the calls made are recorded."""
    calls: list[dict[str, Any]] = []

    def fake(*, hospital: Hospital | None, period: Period, now: datetime) -> Dashboard:
        calls.append({"hospital": hospital, "period": period, "now": now})
        return hand_made(hospital, period)

    monkeypatch.setattr(views, "dashboard_for", fake)
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return calls


def page_of(client: Client, url: str, **params: str) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def figure_html(html: str, key: str) -> str:
    start = html.index(f'id="figure-{key}"')
    end = html.find('<section class="card figure"', start)
    return html[start : end if end != -1 else len(html)]


def drawn(html: str) -> dict[tuple[str, str], str]:
    """The chart's written values by (row, column)."""
    svg = html[html.index("<svg") : html.index("</svg>")]
    return {
        (row, col): unescape(text)
        for row, col, text in re.findall(
            r'<text class="value"[^>]*data-row="(\d+)" data-col="(\d+)">([^<]*)</text>', svg
        )
    }


def tabled(html: str) -> dict[tuple[str, str], str]:
    """The chart table's value cells by (row, column)."""
    table = html[html.index('<table class="chart-table"') :]
    table = table[: table.index("</table>")]
    return {
        (row, col): unescape(text)
        for row, col, text in re.findall(
            r'<td data-row="(\d+)" data-col="(\d+)">([^<]*)</td>', table
        )
    }


def test_every_chart_is_drawn_with_its_numbers_beside_it(world: World, figures: list) -> None:
    url = reverse("hospital_dashboard", args=[world.hospital.pk])
    html = page_of(client_for(world.manager), url)
    dashboard = hand_made(world.hospital, figures[0]["period"])
    assert figures[0]["hospital"] == world.hospital
    for section in dashboard.sections:
        part = figure_html(html, section.key)
        assert section.title in part
        assert unescape(part).count(section.definition) == 1
        table = section.chart.table()
        values = {
            (str(r), str(c)): cell_text(cell)
            for r, row in enumerate(table.rows)
            for c, cell in enumerate(row)
            if c > 0 and cell is not None
        }
        assert drawn(part) == values  # every value drawn is written on the chart ...
        table_cells = tabled(part)
        assert {k: v for k, v in table_cells.items() if v != "—"} == values  # ... and tabled
        marks = re.findall(r'class="mark"[^>]*data-row="(\d+)" data-col="(\d+)"', part)
        assert sorted(marks) == sorted(values)  # one mark per value, none for a gap
        if not values:
            assert "Nothing to show for this period." in part
            assert 'class="mark"' not in part


def test_the_chart_is_an_image_that_says_what_it_shows(world: World, figures: list) -> None:
    html = page_of(
        client_for(world.manager), reverse("hospital_dashboard", args=[world.hospital.pk])
    )
    part = figure_html(html, "hours_recovered")
    assert 'role="img"' in part
    assert (
        'aria-label="Scanner hours recovered: line chart of Hours recovered, '
        'Posted hours &lt;b&gt; (h) by week"' in part
    )
    # One colour per series, each in the legend.
    assert part.count('fill="#0072B2"/><text') == 1
    assert part.count('fill="#D55E00"/><text') == 1
    assert "<b>" not in part
    assert "<script>" not in part
    assert "<du>" not in html
    bars = figure_html(html, "reciprocity")
    assert "chart-bar" in bars
    assert "Clinique &lt;du&gt; Parc" in bars
    assert drawn(bars)[("0", "2")] == "8.5"


def test_headline_against_the_previous_period(world: World, figures: list) -> None:
    html = unescape(
        page_of(client_for(world.manager), reverse("hospital_dashboard", args=[world.hospital.pk]))
    )
    assert re.search(
        r"42\.5 h</strong>\s*<span[^>]*>▲ \+12\.5 h</span>\s*<span[^>]*>previous period: 30 h", html
    )
    assert "no change" in html  # 61.2 % both times
    assert re.search(r"▼ −5\.5 h</span>\s*<span[^>]*>previous period: 2 h", html)
    assert "previous period: —" in html  # exams: nothing to compare with


def test_the_period_and_the_previous_one_are_named(world: World, figures: list) -> None:
    html = unescape(
        page_of(
            client_for(world.manager),
            reverse("hospital_dashboard", args=[world.hospital.pk]),
            start="2026-09-07",
            end="2026-11-29",
            granularity="week",
        )
    )
    period = figures[0]["period"]
    assert (period.start, period.end, period.granularity) == (
        date(2026, 9, 7),
        date(2026, 11, 29),
        "week",
    )
    assert period.time_zone == "Europe/Brussels"  # the hospital's sites' clock
    assert "This period:</strong> 7 Sep 2026 – 29 Nov 2026 (84 days, per week)" in html
    assert "previous period:</strong> 15 Jun 2026 – 6 Sep 2026 (84 days, per week)" in html
    assert figures[0]["now"] == NOW


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2026-13-01", "end": "2026-11-29", "granularity": "week"},
        {"start": "2026-11-29", "end": "2026-09-01", "granularity": "week"},
        {"start": "2026-09-07", "end": "2026-11-29", "granularity": "fortnight"},
    ],
)
def test_a_bad_period_is_told_and_nothing_typed_is_lost(
    world: World, figures: list, params: dict[str, str]
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        period_from(params, time_zone="Europe/Brussels", today=NOW.date())
    url = reverse("hospital_dashboard", args=[world.hospital.pk])
    response = client_for(world.manager).get(url, params)
    html = unescape(response.content.decode())
    assert response.status_code == 400
    problems = [str(p) for ps in refused.value.fields.values() for p in ps] or [
        refused.value.message
    ]
    assert any(problem in html for problem in problems)
    for name in ("start", "end"):
        assert f'value="{params[name]}"' in html
    for name in refused.value.fields:
        if name in ("start", "end"):  # as text: a date picker would blank what it cannot read
            assert f'type="text" name="{name}" value="{params[name]}"' in html
    if params["granularity"] in ("week", "month"):
        assert f'<option value="{params["granularity"]}" selected>' in html
    assert figures == []  # no figures for a period that is none
    assert 'id="coverage"' in html  # the weeks ahead do not depend on it


def test_an_overlong_value_is_refused_with_the_form(world: World, figures: list) -> None:
    url = reverse("hospital_dashboard", args=[world.hospital.pk])
    response = client_for(world.manager).get(url, {"start": "2" * 5000})
    assert response.status_code == 400
    assert "at most 10 characters" in response.content.decode()


def csv_rows(response: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_the_csv_is_the_table_beside_the_chart(world: World, figures: list) -> None:
    url = reverse("hospital_dashboard_csv", args=[world.hospital.pk, "hours_recovered"])
    params = {"start": "2026-09-07", "end": "2026-11-29", "granularity": "week"}
    response = client_for(world.manager).get(url, params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="wescan-hopital-sainte-claire-hours-recovered-'
        '2026-09-07-2026-11-29-week.csv"'
    )
    table = hand_made(world.hospital, figures[0]["period"]).section("hours_recovered").chart.table()
    assert csv_rows(response) == [
        ["Week", "Hours recovered (h)", "Posted hours <b> (h)"],
        *[[cell_text(c) if c is not None else "" for c in row] for row in table.rows],
    ]
    # The page links to exactly this download.
    page = page_of(
        client_for(world.manager), reverse("hospital_dashboard", args=[world.hospital.pk]), **params
    )
    assert f'href="{url}?start=2026-09-07&amp;end=2026-11-29&amp;granularity=week"' in page


def test_the_breakdown_csv_keeps_formulas_from_running(world: World, figures: list) -> None:
    url = reverse("hospital_dashboard_csv", args=[world.hospital.pk, "hours_recovered"])
    response = client_for(world.manager).get(url, {"table": "breakdown"})
    assert response.status_code == 200
    assert "-breakdown-" in response["Content-Disposition"]
    assert csv_rows(response) == [
        ["Site", "Scanner", "Hours"],
        ["Campus Nord", "'=MR 1 <script>", "42.5"],
        ["Sud", "'-MR 2", ""],
    ]


@pytest.mark.parametrize(
    ("key", "params", "status"),
    [
        ("no_such_figure", {}, 404),
        ("reciprocity", {"table": "breakdown"}, 404),  # it has none
        ("hours_recovered", {"table": "everything"}, 400),
        ("hours_recovered", {"start": "yesterday"}, 400),
    ],
)
def test_csv_refusals(world: World, figures: list, key: str, params: dict, status: int) -> None:
    url = reverse("hospital_dashboard_csv", args=[world.hospital.pk, key])
    assert client_for(world.manager).get(url, params).status_code == status


# --- Who sees what ----------------------------------------------------------------------------


@pytest.fixture
def other_people(world: World) -> dict[str, Any]:
    people = {}
    for role in (Role.TECHNOLOGIST, Role.LOCAL_STAFF):
        people[f"other_{role}"] = UserFactory(email=f"other-{role}@example.org")
        MembershipFactory(user=people[f"other_{role}"], hospital=world.other_hospital, role=role)
    return people


HOSPITAL_PAGE = {
    "anonymous": 302,
    "outsider": 404,
    "other_manager": 404,
    "other_technologist": 404,
    "other_local_staff": 404,
    # Members of the hospital who do not manage it: its figures are its managers', so for them
    # the dashboard does not exist (as on the API).
    "technologist": 404,
    "local_staff": 404,
    "manager": 200,
    "admin": 200,
}


def person(world: World, others: dict[str, Any], name: str) -> Any:
    if name == "anonymous":
        return None
    return others.get(name) or getattr(world, name)


@pytest.mark.parametrize(("name", "status"), HOSPITAL_PAGE.items())
def test_hospital_dashboard_page_and_csv_by_person(
    world: World, figures: list, other_people: dict, name: str, status: int
) -> None:
    client = client_for(person(world, other_people, name))
    page = client.get(reverse("hospital_dashboard", args=[world.hospital.pk]))
    download = client.get(
        reverse("hospital_dashboard_csv", args=[world.hospital.pk, "hours_recovered"])
    )
    assert (page.status_code, download.status_code) == (status, status)
    if status != 200:
        assert b"Scanner hours recovered" not in page.content + download.content
    if status == 404 and name not in ("technologist", "local_staff"):  # not even its name
        assert world.hospital.name.encode() not in page.content + download.content


NETWORK_PAGE = {
    "anonymous": 302,
    "outsider": 404,
    "technologist": 404,
    "local_staff": 404,
    "manager": 404,
    "admin": 200,
}


@pytest.mark.parametrize(("name", "status"), NETWORK_PAGE.items())
def test_network_dashboard_is_for_platform_admins(
    world: World, figures: list, name: str, status: int
) -> None:
    client = client_for(person(world, {}, name))
    page = client.get(reverse("network_dashboard"))
    download = client.get(reverse("network_dashboard_csv", args=["hours_recovered"]))
    assert (page.status_code, download.status_code) == (status, status)
    if status == 200:
        assert figures[0]["hospital"] is None
        assert "Dashboard · The WeScan network" in page.content.decode()
        assert 'id="coverage"' not in page.content.decode()  # coverage is a hospital's
        assert "wescan-the-wescan-network-hours-recovered" in download["Content-Disposition"]


def test_links_to_the_dashboards(world: World, figures: list) -> None:
    dashboard = reverse("hospital_dashboard", args=[world.hospital.pk])
    home = client_for(world.manager).get("/").content.decode()
    assert f'href="{dashboard}"' in home
    assert f'href="{reverse("network_dashboard")}"' not in home
    hospital_page = client_for(world.manager).get(
        reverse("hospital_detail", args=[world.hospital.pk])
    )
    assert f'href="{dashboard}"' in hospital_page.content.decode()
    # A technologist of the hospital is offered no dashboard.
    for page in ("/", reverse("hospital_detail", args=[world.hospital.pk])):
        assert (
            f'href="{dashboard}"' not in client_for(world.technologist).get(page).content.decode()
        )
    admin_home = client_for(world.admin).get("/").content.decode()
    assert f'href="{reverse("network_dashboard")}"' in admin_home


def test_a_long_period_draws_wider_rather_than_writing_numbers_over_each_other() -> None:
    labels = tuple(f"Week {n}" for n in range(27))
    long = Chart(
        kind="line",
        unit="h",
        axis="Week",
        labels=labels,
        series=(Series("Hours", tuple(range(27))), Series("Posted", tuple(range(1, 28)))),
    )
    svg = str(charts.chart_svg(long, title="Hours"))
    width = int(re.search(r'viewBox="0 0 (\d+) ', svg).group(1))  # type: ignore[union-attr]
    assert width == charts.chart_width(long) > charts.WIDTH
    assert f'style="min-width:{round(width * 0.75)}px"' in svg  # never shrunk unreadable
    assert svg.count('class="mark"') == 54
    # The higher line writes its values above its marks, the lower one under them.
    mark_and_value = (
        r'cy="([\d.]+)"[^>]*data-row="5" data-col="{}">.*?'
        r'<text class="value" x="[\d.]+" y="([\d.]+)"'
    )
    above = re.search(mark_and_value.format(2), svg)
    below = re.search(mark_and_value.format(1), svg)
    assert above is not None
    assert below is not None
    assert float(above.group(2)) < float(above.group(1))
    assert float(below.group(2)) > float(below.group(1))


def test_a_negative_bar_hangs_under_the_zero_line() -> None:
    bars = Chart(
        kind="bar",
        unit="h",
        axis="Counterpart",
        labels=("A", "B"),
        series=(Series("Balance", (4, -2)),),
    )
    svg = str(charts.chart_svg(bars, title="Balance"))
    zero = re.search(r'<line class="grid zero" x1="\d+" y1="([\d.]+)"', svg)
    marks = re.findall(
        r'<rect class="mark" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"', svg
    )
    assert zero is not None
    assert len(marks) == 2
    (up_y, up_height), (down_y, down_height) = ((float(y), float(h)) for y, h in marks)
    assert up_y + up_height == pytest.approx(float(zero.group(1)))
    assert down_y == pytest.approx(float(zero.group(1)))
    assert up_height == pytest.approx(2 * down_height)
