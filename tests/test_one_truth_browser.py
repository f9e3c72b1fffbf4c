"""One view, one truth, as a user meets it: the page's text in a real Chromium (its header, counts table, map
legend and selection note, read from the DOM) gives the numbers counted here from the atlas table, which
``tests/test_one_truth.py`` also requires of the slide's text, the table and the statistics JSON."""

from __future__ import annotations

import re

import pytest
from test_browser import ARGS, CHROMIUM, Page  # noqa: F401  (the shared page driver and Chromium flags)
from test_one_truth import expected

from dashboard.state import ViewState

pytestmark = [pytest.mark.browser]

VIEWS = [
    ("?year=2016&region=London&evidence=approved", ViewState(year=2016, regions=("London",), evidence="approved")),
    ("?year=2016&evidence=operating", ViewState(year=2016, evidence="operating")),
    ("?year=2015&area_team=Greater%20Manchester", ViewState(year=2015, area_teams=("Greater Manchester",))),
    ("?year=2016&area_team=Greater%20Manchester&imd=1-2&ccg=E38000024",
     ViewState(year=2016, area_teams=("Greater Manchester",), imd=(1, 2), ccgs=("E38000024",))),
]


@pytest.fixture(scope="module")
def chromium():  # noqa: ANN201
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.mark.parametrize(("query", "state"), VIEWS, ids=["london-approved", "england-operating", "gm-2015",
                                                          "selection-outside"])
def test_page_and_slide_state_the_same_counts(chromium, live_server, service, query: str,  # noqa: ANN001
                                              state: ViewState) -> None:
    want = expected(service, state)
    page = Page(chromium, live_server + "/" + query)
    try:
        page.wait_text("#level-summary", "Unknown: no source found")
        summary = page.page.inner_text("#level-summary")
        header = page.page.inner_text("#coverage-header")
        if state.ccgs:
            page.wait_text("#ccg-details", "Selected")
        details = page.page.inner_text("#ccg-details")
        view_line = page.page.inner_text("#view-line")
        legend = page.js("""() => Array.from(document.querySelectorAll('#ccg-map .legendtext')).map((e) => {
            const lines = Array.from(e.querySelectorAll('tspan.line'));
            return lines.length ? lines.map((t) => t.textContent).join(' ') : e.textContent; }).join(' | ')""")
    finally:
        page.close()
    rows = dict(re.findall(r"^(.+?)\t(\d+)\t", summary, flags=re.M))
    assert int(rows["Unknown: no source found"]) == want["no_source"]
    assert int(rows.get("Delegated (level 3)", 0)) == want.get("delegated", 0)
    if state.evidence != "any":
        assert int(rows["Set aside: its source is weaker than the evidence chosen"]) == want["set_aside"]
        assert "set aside" in header and f"evidence chosen: {want['set_aside']}" in legend
    else:
        assert "Set aside" not in summary and "set aside" not in header
    where = "in the filter" if state.filtered else "in England"
    assert f"{want['n']} CCGs {where}; {want['known']} have a level" in summary
    assert f"Unknown: no source found: {want['no_source']}" in legend
    assert f"{want['known']} of {want['n']} CCGs known" in view_line, "the line above the map says what it shows"
    if state.ccgs:
        sentence = "Selected but outside the filter, so not counted in this view: NHS Bury CCG."
        assert sentence in details
