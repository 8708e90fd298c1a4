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
from tests.factories import MembershipFactory, UserFactory, enrol_totp

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


def titled(html: str) -> dict[tuple[str, str], str]:
    """Each mark's value as its <title> says it ('Series, Label: 12.5 h'), by (row, column)."""
    svg = html[html.index("<svg") : html.index("</svg>")]
    return {
        (row, col): unescape(title).rsplit(": ", 1)[1].split(" ")[0]
        for row, col, title in re.findall(
            r'class="mark"[^>]*data-row="(\d+)" data-col="(\d+)"><title>([^<]*)</title>', svg
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
        # With room for them, every value is written on the chart (where two would overlap,
        # one is left to its mark's title: see the tests further down) ...
        assert drawn(part) == values
        table_cells = tabled(part)
        assert {k: v for k, v in table_cells.items() if v != "—"} == values  # ... and tabled
        assert titled(part) == values  # one mark per value, none for a gap, each titled
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
    # Each series told apart by its colour AND its marker and dash pattern, the legend drawing
    # the same: not by colour alone.
    legend = part[part.index('<g class="legend">') : part.index("</g>")]
    assert re.search(r'<line class="line"[^>]*stroke="#0072B2"/><circle ', legend)
    assert re.search(
        r'<line class="line"[^>]*stroke="#D55E00" stroke-dasharray="8 4"/><rect ', legend
    )
    assert re.search(r'<circle cx="[\d.]+" cy="[\d.]+" r="4" fill="#0072B2" class="mark"', part)
    assert re.search(r'<rect [^>]*fill="#D55E00" class="mark"', part)
    assert re.search(r'<polyline class="line" stroke="#D55E00" stroke-dasharray="8 4"', part)
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
    # The sign, the arrow (hidden from screen readers) and the word, beside the colour.
    assert re.search(
        r"42\.5 h</strong>\s*<span[^>]*><span aria-hidden=\"true\">▲ </span>"
        r"<span class=\"visually-hidden\">up </span>\+12\.5 h</span>\s*"
        r"<span[^>]*>previous period: 30 h",
        html,
    )
    assert "no change" in html  # 61.2 % both times
    assert re.search(
        r"▼ </span><span class=\"visually-hidden\">down </span>−5\.5 h</span>\s*"
        r"<span[^>]*>previous period: 2 h",
        html,
    )
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


@pytest.mark.parametrize("value", ["2" * 5000, "2026-09-01\x00"])
def test_an_overlong_value_is_refused_with_the_form(
    world: World, figures: list, value: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        period_from({"start": value}, time_zone="Europe/Brussels", today=NOW.date())
    url = reverse("hospital_dashboard", args=[world.hospital.pk])
    response = client_for(world.manager).get(url, {"start": value})
    assert response.status_code == 400
    # In the same words as the CSV and the API, and the value not repeated.
    html = unescape(response.content.decode())
    assert refused.value.message in html
    assert "\x00" not in html
    typed = re.search(r'name="start" value="([^"]*)"', html)
    assert typed is not None
    assert len(typed.group(1)) <= views.ECHOED  # written back cut short
    download = client_for(world.manager).get(
        reverse("hospital_dashboard_csv", args=[world.hospital.pk, "hours_recovered"]),
        {"start": value},
    )
    assert download.status_code == 400
    assert refused.value.message in unescape(download.content.decode())


def csv_rows(response: Any) -> list[list[str]]:
    # "utf-8-sig", as Excel: a Dutch or French file opens with a byte order mark.
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


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
        enrol_totp(people[f"other_{role}"])  # local staff have a second factor before any page
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


def value_boxes(svg: str) -> list[tuple[float, float, float, float]]:
    """Where each written value sits (left, top, right, bottom), as wide as its characters."""
    boxes = []
    for x, y, text in re.findall(
        r'<text class="value" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>', svg
    ):
        half = charts.VALUE_CHAR_WIDTH * len(unescape(text)) / 2
        boxes.append((float(x) - half, float(y) - 12, float(x) + half, float(y) + 3.5))
    return boxes


def overlapping(boxes: list[tuple[float, float, float, float]]) -> list[tuple[int, int]]:
    return [
        (i, j)
        for i, (l1, t1, r1, b1) in enumerate(boxes)
        for j, (l2, t2, r2, b2) in enumerate(boxes)
        if i < j and l1 < r2 and l2 < r1 and t1 < b2 and t2 < b1
    ]


def test_two_years_of_weeks_fit_the_usual_width_and_end_on_the_latest() -> None:
    period = Period(date(2024, 12, 2), date(2026, 12, 6), "week", "Europe/Brussels")
    labels = tuple(period.bucket_label(bucket) for bucket in period.buckets())
    assert len(labels) == 105
    values = tuple([0] * 79 + [Decimal(n) / 2 for n in range(26)])
    long = Chart(
        kind="line",
        unit="h",
        axis="Week",
        labels=labels,
        series=(Series("Hours", values), Series("Posted", tuple(v + 2 for v in values))),
    )
    svg = str(charts.chart_svg(long, title="Hours"))
    width = int(re.search(r'viewBox="0 0 (\d+) ', svg).group(1))  # type: ignore[union-attr]
    assert width == charts.WIDTH  # nothing to scroll
    assert "min-width" not in svg
    # Every n-th week is named under the axis, the latest always; the table names them all.
    named = re.findall(r'<text class="category"[^>]*>([^<]*)</text>', svg)
    assert 8 <= len(named) <= 20
    assert named[-1] == "30 Nov 2026"
    # Every point is a mark with its value in its title; values are written only where they
    # overlap none.
    assert len(titled(svg)) == 2 * 105
    assert svg.count('class="mark"') == 2 * 105
    written = drawn(svg)
    assert 0 < len(written) < 2 * 105
    assert all(titled(svg)[cell] == text for cell, text in written.items())
    assert overlapping(value_boxes(svg)) == []
    assert ("104", "1") in written  # the latest value is the one kept
    # A run of zeros is read from the line, not written 78 times over.
    assert not any((str(row), "1") in written for row in range(1, 78))


def test_values_that_would_overlap_are_left_to_the_marks_titles() -> None:
    # The reciprocity chart the tester could not read: values close together on every week.
    chart = Chart(
        kind="line",
        unit="h",
        axis="Week",
        labels=tuple(f"Week {n}" for n in range(52)),
        series=(
            Series("Given", tuple(Decimal("3.6") for _ in range(52))),
            Series("Received", tuple(Decimal(4) for _ in range(52))),
            Series("Balance", tuple(Decimal("-0.4") for _ in range(52))),
        ),
    )
    svg = str(charts.chart_svg(chart, title="Reciprocity"))
    assert overlapping(value_boxes(svg)) == []
    assert len(titled(svg)) == 3 * 52  # each mark says its value
    assert 0 < len(drawn(svg)) < 3 * 52
    assert all(titled(svg)[cell] == text for cell, text in drawn(svg).items())


def test_the_higher_line_writes_above_its_marks_the_lower_one_under() -> None:
    chart = Chart(
        kind="line",
        unit="h",
        axis="Week",
        labels=tuple(f"Week {n}" for n in range(6)),
        series=(Series("Hours", tuple(range(6))), Series("Posted", tuple(range(10, 16)))),
    )
    svg = str(charts.chart_svg(chart, title="Hours"))
    lower = re.search(r'<circle cx="[\d.]+" cy="([\d.]+)"[^>]*data-row="4" data-col="1"', svg)
    higher = re.search(
        r'<rect x="[\d.]+" y="([\d.]+)" width="([\d.]+)"[^>]*data-row="4" data-col="2"', svg
    )
    assert lower is not None
    assert higher is not None
    values = {
        (row, col): float(y)
        for y, row, col in re.findall(
            r'<text class="value" x="[\d.]+" y="([\d.]+)"[^>]*data-row="(\d+)" data-col="(\d+)"',
            svg,
        )
    }
    assert values[("4", "1")] > float(lower.group(1))
    assert values[("4", "2")] < float(higher.group(1))


def test_each_line_has_its_own_marker_and_dash() -> None:
    chart = Chart(
        kind="line",
        unit="",
        axis="Week",
        labels=("a", "b"),
        series=tuple(Series(f"S{n}", (n, n + 1)) for n in range(4)),
    )
    svg = str(charts.chart_svg(chart, title="Lines"))
    dashes = re.findall(
        r'<polyline class="line" stroke="[^"]+"(?: stroke-dasharray="([^"]+)")?', svg
    )
    assert len(set(dashes)) == 4
    shapes = re.findall(r'<(circle|rect|polygon) [^>]*class="mark"[^>]*data-row="0"', svg)
    assert len(shapes) == 4
    assert len(set(shapes)) == 3  # circle, square, and two triangles pointing apart
    points = re.findall(r'<polygon points="([^"]+)"[^>]*class="mark"[^>]*data-row="0"', svg)
    assert len(set(points)) == 2


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


# --- What the tester found -------------------------------------------------------------------


def whole_period(hospital: Hospital | None, period: Period) -> Dashboard:
    """One figure over every bucket of the period, broken down as the real ones are: per
    hospital (the network) or per counterpart."""
    buckets = period.buckets()
    names = ("Hôpital Sainte-Claire", "Clinique du Parc", "Gone Hospital")
    section = Section(
        key="reciprocity",
        title="Reciprocity",
        definition="Hours given minus hours received.",
        headline=(),
        chart=Chart(
            kind="line",
            unit="h",
            axis="Week" if period.granularity == "week" else "Month",
            labels=tuple(period.bucket_label(bucket) for bucket in buckets),
            series=(Series("Given", tuple(range(len(buckets)))),),
        ),
        breakdown=Table(
            columns=("Hospital" if hospital is None else "Counterpart", "Hours given"),
            rows=tuple((name, 1) for name in names),
            # As the figures give them: the network's rows lead to each hospital's dashboard.
            links=tuple(
                reverse("hospital_dashboard", args=[found.pk])
                if (found := Hospital.objects.filter(name=name).first())
                else None
                for name in names
            )
            if hospital is None
            else (),
        ),
    )
    return Dashboard(
        scope=hospital.name if hospital else "The WeScan network",
        hospital_id=hospital.pk if hospital else None,
        period=period,
        previous=period.previous(),
        sections=(section,),
    )


@pytest.fixture
def whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        views,
        "dashboard_for",
        lambda *, hospital, period, now: whole_period(hospital, period),
    )
    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.mark.parametrize(
    ("params", "first", "last"),
    [
        (
            {"start": "2026-09-11", "end": "2026-12-03"},
            "Week of 7 Sep 2026 (from 11 Sep)",
            "Week of 30 Nov 2026 (to 3 Dec)",
        ),
        ({"start": "2026-09-07", "end": "2026-11-29"}, "Week of 7 Sep 2026", "Week of 23 Nov 2026"),
        (
            {"start": "2026-09-11", "end": "2026-12-03", "granularity": "month"},
            "Sep 2026 (from 11 Sep)",
            "Dec 2026 (to 3 Dec)",
        ),
        ({"start": "2026-09-08", "end": "2026-09-10"}, "Week of 7 Sep 2026 (8 Sep to 10 Sep)", ""),
    ],
)
def test_a_bucket_the_period_covers_in_part_says_so(
    world: World, whole: None, params: dict[str, str], first: str, last: str
) -> None:
    url = reverse("hospital_dashboard", args=[world.hospital.pk])
    html = unescape(page_of(client_for(world.manager), url, **params))
    rows = re.findall(r'<tr><th scope="row">([^<]*)</th>', html)
    assert rows[0] == first
    assert rows[-1] == (last or first)
    assert sum("(" in row for row in rows) == (first != rows[0].split(" (")[0]) + (
        last != "" and last != rows[-1].split(" (")[0]
    )
    # The axis says it too (less "Week of"), and so does the CSV of the table.
    axis = [
        " ".join(re.findall(r">([^<>]+)<", text))
        for text in re.findall(r'<text class="category".*?</text>', html)
    ]
    assert axis[0] == first.removeprefix("Week of ")
    download = client_for(world.manager).get(
        reverse("hospital_dashboard_csv", args=[world.hospital.pk, "reciprocity"]), params
    )
    table = csv_rows(download)
    assert (table[1][0], table[-1][0]) == (first, last or first)


def test_the_breakdown_is_headed_by_what_its_rows_are(world: World, whole: None) -> None:
    url = reverse("hospital_dashboard", args=[world.hospital.pk])
    html = page_of(client_for(world.manager), url)
    assert "<summary>Per counterpart</summary>" in html
    assert "Per site and scanner" not in html
    # A counterpart's dashboard is not the manager's to open.
    assert "/dashboard/?" not in html.split("<summary>Per counterpart</summary>")[1]
    network = page_of(client_for(world.admin), reverse("network_dashboard"))
    assert "<summary>Per hospital</summary>" in network


def test_the_network_leads_to_each_hospitals_dashboard_for_the_same_period(
    world: World, whole: None
) -> None:
    params = {"start": "2026-09-07", "end": "2026-11-29", "granularity": "month"}
    html = page_of(client_for(world.admin), reverse("network_dashboard"), **params)
    breakdown = html[html.index('<table class="breakdown-table"') :]
    breakdown = breakdown[: breakdown.index("</table>")]
    query = "start=2026-09-07&amp;end=2026-11-29&amp;granularity=month"
    link = f'href="{reverse("hospital_dashboard", args=[world.hospital.pk])}?{query}"'
    assert link in breakdown
    other = reverse("hospital_dashboard", args=[world.other_hospital.pk])
    assert f'href="{other}?{query}"' not in breakdown  # not in this table: no link invented
    assert "<td>Gone Hospital</td>" in breakdown  # a row without a link
    # The link opens that hospital's dashboard for the period.
    opened = unescape(page_of(client_for(world.admin), unescape(link[6:-1])))
    assert "Dashboard · Hôpital Sainte-Claire" in opened
    assert "This period:</strong> 7 Sep 2026 – 29 Nov 2026 (84 days, per month)" in opened


def test_an_admin_home_offers_every_hospitals_dashboard(world: World, figures: list) -> None:
    home = client_for(world.admin).get("/").content.decode()
    assert f'href="{reverse("network_dashboard")}"' in home
    for hospital in Hospital.objects.all():
        assert f'href="{reverse("hospital_dashboard", args=[hospital.pk])}"' in home
    # A manager's tile offers their own hospital's only.
    manager_home = client_for(world.manager).get("/").content.decode()
    own = reverse("hospital_dashboard", args=[world.hospital.pk])
    assert f'class="tile-dashboard" href="{own}"' in manager_home
    assert reverse("hospital_dashboard", args=[world.other_hospital.pk]) not in manager_home


def test_an_empty_table_parameter_is_the_default_table(world: World, figures: list) -> None:
    url = reverse("hospital_dashboard_csv", args=[world.hospital.pk, "hours_recovered"])
    response = client_for(world.manager).get(url, {"table": ""})
    assert response.status_code == 200
    assert csv_rows(response)[0] == ["Week", "Hours recovered (h)", "Posted hours <b> (h)"]


def test_the_form_shows_the_period_in_use(world: World, figures: list) -> None:
    url = reverse("hospital_dashboard", args=[world.hospital.pk])
    html = page_of(client_for(world.manager), url)
    # The 12 weeks ending today (23 Nov 2026), as the page says.
    assert 'type="date" name="start" value="2026-09-01"' in html
    assert 'type="date" name="end" value="2026-11-23"' in html
    assert '<option value="week" selected>' in html
    assert "This period:</strong> 1 Sep 2026 – 23 Nov 2026" in html


def test_control_characters_are_never_written_back(world: World, figures: list) -> None:
    url = reverse("hospital_dashboard", args=[world.hospital.pk])
    response = client_for(world.manager).get(url, {"start": "2026-09\x00-01", "end": "\x1b[2J"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "\x00" not in html
    assert "\x1b" not in html
    assert 'name="start" value="2026-09-01"' in html  # the rest, to correct


def test_a_count_the_values_rest_on_is_tabled_not_drawn(world: World, monkeypatch: Any) -> None:
    period = Period(date(2026, 9, 7), date(2026, 11, 29), "week", "Europe/Brussels")
    chart = Chart(
        kind="bar",
        unit="h",
        axis="Lane",
        labels=("Urgent", "Planned"),
        series=(Series("Median", (Decimal("2.5"), 30)), Series("Bookings", (3, 12), drawn=False)),
    )
    section = Section("time_to_fill", "Time to fill", "Publish to confirmed.", (), chart, None)
    dashboard = Dashboard("H", world.hospital.pk, period, period.previous(), (section,))
    monkeypatch.setattr(views, "dashboard_for", lambda **kwargs: dashboard)
    url = reverse("hospital_dashboard", args=[world.hospital.pk])
    html = page_of(client_for(world.manager), url)
    html = figure_html(html, "time_to_fill")
    assert titled(html) == {("0", "1"): "2.5", ("1", "1"): "30"}  # the counts not drawn
    assert tabled(html) == {("0", "1"): "2.5", ("1", "1"): "30"}
    assert '<th scope="col">Median (h)</th><th scope="col">Bookings</th>' in html
    assert re.findall(r'<td class="count">(\d+)</td>', html) == ["3", "12"]
    download = client_for(world.manager).get(
        reverse("hospital_dashboard_csv", args=[world.hospital.pk, "time_to_fill"])
    )
    assert csv_rows(download) == [
        ["Lane", "Median (h)", "Bookings"],
        ["Urgent", "2.5", "3"],
        ["Planned", "30", "12"],
    ]
