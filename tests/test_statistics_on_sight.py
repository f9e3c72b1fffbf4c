"""The statistics are worked out for a reader who can see them (assets/stats.js): a filter change made at the map
asks the server for none of them, and reaching them asks once, for the view the page shows."""

from __future__ import annotations

import test_browser
from test_browser import Page, open_page, pytestmark  # noqa: F401  (the page tests' fixtures and marks)

browser = test_browser.browser  # the page tests' fixture: a fresh Chromium per test (tests ask for it by name)

ROBUST, CLUSTERING = "clustering-robust.children", "clustering.children"


def asked(p: Page, panel: str) -> int:
    """Callback requests the page sent for a statistics panel so far."""
    return sum(panel in key for key in p.callbacks)


def change_year(p: Page, label: str, year: str) -> None:
    p.page.get_by_label(label).check()
    p.page.wait_for_function("(y) => new URL(location.href).searchParams.get('year') === y", arg=year)
    p.wait_text("#level-summary", label)
    p.panels()
    p.settle()


def test_statistics_are_worked_out_when_reached_for_the_view_shown(open_page) -> None:  # noqa: ANN001, F811
    p = open_page("?year=2016&region=London")
    p.panels()
    p.settle()
    # At the map: the page loaded, and a filter change, ask for no statistics.
    assert asked(p, ROBUST) == asked(p, CLUSTERING) == 0, p.callbacks
    change_year(p, "2015/16", "2015")
    assert asked(p, ROBUST) == asked(p, CLUSTERING) == 0, p.callbacks
    assert "worked out when you reach them" in p.page.inner_text("#clustering")
    # Reached: asked once, for the view the page shows (2015/16), and shown.
    p.statistics()
    assert asked(p, ROBUST) == asked(p, CLUSTERING) == 1, p.callbacks
    assert "2015/16, London region" in p.page.inner_text("#clustering-robust"), p.page.inner_text("#clustering-robust")
    assert "2016/17" not in p.page.inner_text("#clustering-robust")
    # Back at the top, another change asks for nothing until the reader comes back; then for that view.
    p.js("() => window.scrollTo(0, 0)")
    change_year(p, "2016/17", "2016")
    assert asked(p, ROBUST) == 1, p.callbacks
    assert p.js("() => document.getElementById('statistics').dataset.pending") == "1"
    p.statistics()
    assert asked(p, ROBUST) == asked(p, CLUSTERING) == 2, p.callbacks
    assert "2016/17, London region" in p.page.inner_text("#clustering-robust")
    assert p.js("() => document.getElementById('statistics').dataset.asked") == "2"

