"""The operations dashboard in real Chromium on the demo: a manager signs in, follows the link
from the home page, and every figure's chart is drawn (an SVG with a mark per value, each mark's
title saying the value the table beside it holds), its written values never overlapping and each
the table's. The table is never cut off. On a phone it still fits; an admin drills down from the
network to a hospital."""

import io
from collections.abc import Callable

import pytest
from django.core.management import call_command
from playwright.sync_api import BrowserContext, Page, expect

from marketplace.models import Hospital
from tests.browser.test_hospital_pages import DEMO_PASSWORD, sign_in

pytestmark = pytest.mark.browser

SECTIONS = [
    "hours_recovered",
    "fill_rate",
    "time_to_fill",
    "reliability",
    "help",
    "cockpit",
    "reciprocity",
]

# Every chart's written values, its marks' titled values and its table's cells, each by (row,
# column); the written values that overlap on screen; whether the table is cut off.
READ_FIGURE = """
figure => {
  const cells = nodes => Object.fromEntries([...nodes].map(
    n => [n.dataset.row + ',' + n.dataset.col, n.textContent.trim()]));
  const marks = [...figure.querySelectorAll('svg.chart .mark')];
  const titled = Object.fromEntries(marks.map(m => {
    const title = m.querySelector('title').textContent;
    const value = title.slice(title.lastIndexOf(': ') + 2).split(' ')[0];
    return [m.dataset.row + ',' + m.dataset.col, value];
  }));
  const boxes = [...figure.querySelectorAll('svg.chart text.value')].map(
    n => n.getBoundingClientRect());
  let overlaps = 0;
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach(b => {
    if (a.left < b.right - 0.5 && b.left < a.right - 0.5
        && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) overlaps += 1;
  }));
  const wrap = figure.querySelector('.chart-side .table-wrap');
  return {
    drawn: cells(figure.querySelectorAll('svg.chart text.value')),
    marks: marks.length,
    titled,
    overlaps,
    tabled: cells(figure.querySelectorAll('table.chart-table td[data-col]')),
    box: figure.querySelector('svg.chart').getBoundingClientRect().height,
    svgWidth: figure.querySelector('svg.chart').getBoundingClientRect().width,
    boxWidth: figure.querySelector('.chart-box').clientWidth,
    cut: wrap.scrollWidth > wrap.clientWidth + 1,
  };
}
"""


def test_demo_manager_reads_every_chart_and_its_table(live_server, page: Page) -> None:
    call_command("load_demo", stdout=io.StringIO())
    base = live_server.url
    hospital = Hospital.objects.get(name="Hôpital Sainte-Claire")

    sign_in(page, base, "manager@sainte-claire.demo", DEMO_PASSWORD)
    page.locator("#my-dashboards").get_by_role("link", name="the operations dashboard").click()
    expect(page).to_have_url(f"{base}/hospitals/{hospital.pk}/dashboard/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard · Hôpital Sainte-Claire")
    expect(page.locator("#period-names")).to_contain_text("This period:")
    expect(page.locator("#period-names")).to_contain_text("Compared with the previous period:")
    expect(page.locator("#coverage")).to_contain_text("Coverage ahead")
    # At a laptop's width each week of coverage fits its card: no day cut off at the edge.
    page.set_viewport_size({"width": 1400, "height": 1000})
    weeks = page.locator("#coverage .table-wrap")
    assert weeks.count() >= 4
    for week in weeks.all():
        assert week.evaluate("w => w.scrollWidth <= w.clientWidth"), week.inner_text()[:80]

    figures = page.locator("section.figure")
    expect(figures).to_have_count(len(SECTIONS))
    for key in SECTIONS:
        figure = page.locator(f"#figure-{key}")
        chart = figure.get_by_role("img")
        expect(chart).to_have_count(1)
        assert chart.get_attribute("aria-label"), key
        expect(figure.locator(".definition")).not_to_be_empty()
        read = figure.evaluate(READ_FIGURE)
        assert read["box"] > 100, f"{key}: the chart is not drawn"
        assert read["marks"] > 0, f"{key}: a chart without marks"
        numbers = {cell: text for cell, text in read["tabled"].items() if text != "—"}
        # Every mark says its value (hover, screen readers): the table's.
        assert read["marks"] == len(read["titled"]), f"{key}: two marks for one value"
        assert read["titled"] == numbers, f"{key}: the table is not what the chart says"
        # The values written are the table's, where they fit: none over another.
        assert read["drawn"], f"{key}: no value written"
        assert all(numbers[cell] == text for cell, text in read["drawn"].items()), key
        assert read["overlaps"] == 0, f"{key}: values written over each other"
        # Nothing to scroll at 1280 px: the chart fits its box, the table is not cut off.
        assert read["svgWidth"] <= read["boxWidth"] + 1, f"{key}: the chart scrolls"
        assert not read["cut"], f"{key}: the table beside the chart is cut off"

    # The download beside the first chart is that table.
    with page.expect_download() as download:
        page.locator("#figure-hours_recovered a.csv").first.click()
    assert download.value.suggested_filename.startswith(
        "wescan-hopital-sainte-claire-hours-recovered-"
    )


def test_dashboard_fits_a_phone(live_server, new_context: Callable[..., BrowserContext]) -> None:
    call_command("load_demo", stdout=io.StringIO())
    base = live_server.url
    page = new_context(viewport={"width": 360, "height": 740}, is_mobile=True).new_page()
    sign_in(page, base, "manager@sainte-claire.demo", DEMO_PASSWORD)
    hospital = Hospital.objects.get(name="Hôpital Sainte-Claire")
    page.goto(f"{base}/hospitals/{hospital.pk}/dashboard/")
    page.wait_for_load_state("load")
    content, screen = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert screen == 360
    assert content <= screen, f"the dashboard is {content}px wide on a 360px phone"
    # Tables scroll within themselves; a chart's numbers stay a readable size.
    size = page.locator("#figure-hours_recovered svg.chart text.value").first.evaluate(
        "node => node.getBoundingClientRect().height"
    )
    assert size >= 9
    # The coverage grid's scanner column stays in view while its days scroll by.
    grid = page.locator("#coverage .table-wrap").first
    before = grid.locator('th[scope="row"]').first.evaluate(
        "node => node.getBoundingClientRect().left"
    )
    grid.evaluate("node => { node.scrollLeft = 400; }")
    scrolled, after = grid.evaluate(
        "node => [node.scrollLeft,"
        " node.querySelector('th[scope=row]').getBoundingClientRect().left]"
    )
    assert scrolled > 0, "the coverage grid does not scroll on a phone"
    assert after == pytest.approx(before, abs=1)


def test_admin_drills_down_from_the_network(live_server, page: Page) -> None:
    call_command("load_demo", stdout=io.StringIO())
    base = live_server.url
    hospital = Hospital.objects.get(name="Hôpital Sainte-Claire")
    sign_in(page, base, "admin@wescan.demo", DEMO_PASSWORD)
    # Each hospital's tile offers its dashboard, and the network's is there.
    tile = page.locator(f'.tile[data-hospital="{hospital.pk}"]')
    expect(tile.get_by_role("link", name="Its dashboard")).to_have_attribute(
        "href", f"/hospitals/{hospital.pk}/dashboard/"
    )
    page.locator("#my-dashboards").get_by_role("link", name="The network's dashboard").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard · The WeScan network")
    page.get_by_label("Per", exact=True).select_option("month")
    page.get_by_role("button", name="Show").click()
    start = page.get_by_label("From").input_value()
    assert start  # the period in use, written in the form
    breakdown = page.locator("#figure-hours_recovered details.breakdown")
    expect(breakdown.locator("summary")).to_have_text("Per hospital")
    breakdown.get_by_role("link", name="Hôpital Sainte-Claire").click()
    expect(page).to_have_url(
        f"{base}/hospitals/{hospital.pk}/dashboard/?start={start}"
        f"&end={page.get_by_label('To (included)').input_value()}&granularity=month"
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard · Hôpital Sainte-Claire")
    expect(page.get_by_label("Per", exact=True)).to_have_value("month")
