"""The operations dashboard in real Chromium on the demo: a manager signs in, follows the link
from the home page, and every figure's chart is drawn (an SVG with a mark per value) with the
table beside it holding the very numbers written on the chart. On a phone it still fits."""

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

# Every chart's written values and its table's cells, each by (row, column).
READ_FIGURE = """
figure => {
  const cells = nodes => Object.fromEntries([...nodes].map(
    n => [n.dataset.row + ',' + n.dataset.col, n.textContent.trim()]));
  return {
    drawn: cells(figure.querySelectorAll('svg.chart text.value')),
    marks: figure.querySelectorAll('svg.chart .mark').length,
    tabled: cells(figure.querySelectorAll('table.chart-table td')),
    box: figure.querySelector('svg.chart').getBoundingClientRect().height,
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
        assert read["marks"] == len(read["drawn"]), f"{key}: a mark without its value"
        numbers = {cell: text for cell, text in read["tabled"].items() if text != "—"}
        assert read["drawn"] == numbers, f"{key}: the table is not what the chart says"

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
