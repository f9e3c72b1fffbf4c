"""Accessibility of the public page, checked with axe-core in a real Chromium on a laptop and on a phone."""

from __future__ import annotations

import pytest
import test_browser
from test_browser import Page, pytestmark  # noqa: F401  (the page tests' helper and marks)

browser = test_browser.browser  # the page tests' fixture: a fresh Chromium per test (tests ask for it by name)

LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


class Device:
    """A browser whose new contexts emulate a device (a phone: touch, mobile viewport), for the shared Page helper."""

    def __init__(self, chromium, **options: object) -> None:  # noqa: ANN001
        self.browser, self.options = chromium, options

    def new_context(self, **kwargs: object):  # noqa: ANN201
        return self.browser.new_context(**{**self.options, **kwargs})


def open_loaded(request: pytest.FixtureRequest, url: str, phone: bool = False) -> Page:
    """The page once everything a visitor waits for has arrived: map drawn, every panel filled, charts drawn."""
    chromium = request.getfixturevalue("browser")
    device = Device(chromium, is_mobile=True, has_touch=True, device_scale_factor=2) if phone else chromium
    p = Page(device, url, PHONE if phone else LAPTOP)
    p.page.wait_for_selector("#clustering-robust table", timeout=60000)
    p.page.wait_for_function(
        "() => ['#team-chart', '#imd-chart'].every(s => document.querySelector(s + ' .js-plotly-plot .main-svg'))"
        " && document.querySelector('#level-summary table') && document.querySelector('#clustering p')",
        timeout=30000)
    p.wait_drawn()
    return p


def serious(p: Page, exclude: tuple[tuple[str, str], ...] = ()) -> list[str]:
    """axe-core's serious and critical violations, one line each: rule id, impact, the elements it found."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(p.page)
    out = []
    for v in results.response["violations"]:
        if v["impact"] not in ("serious", "critical"):
            continue
        targets = [" ".join(map(str, n["target"])) for n in v["nodes"]]
        targets = [t for t in targets if (v["id"], t) not in exclude and not any(
            v["id"] == rule and t.startswith(prefix) for rule, prefix in exclude)]
        if targets:
            out.append(f"{v['id']} ({v['impact']}): {targets[:8]} — {v['help']}")
    return out


@pytest.mark.parametrize("phone", [False, True], ids=["laptop", "phone"])
def test_no_serious_accessibility_violations(request: pytest.FixtureRequest, live_server: str, phone: bool) -> None:
    p = open_loaded(request, live_server + "/?year=2016", phone)
    found = serious(p)
    p.close()
    assert not found, "axe-core found:\n" + "\n".join(found)


def test_keyboard_and_screen_reader_find_their_way(request: pytest.FixtureRequest, live_server: str) -> None:
    from geodata.vocabulary import LEVEL_LABEL

    p = open_loaded(request, live_server + "/?year=2016")
    # The first Tab reaches the skip link; following it puts the focus on the summary, past filters and map.
    p.page.keyboard.press("Tab")
    assert p.js("() => document.activeElement.textContent") == "Skip to summary"
    assert p.page.locator(".skip-link").bounding_box()["y"] >= 0, "the skip link shows when it has the focus"
    p.page.keyboard.press("Enter")
    p.page.wait_for_function("() => document.activeElement && document.activeElement.id === 'summary'")
    headings = p.js("() => Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
    assert "Filters" in headings and "Map" in headings
    # The map is described in words by the counts it draws (the section's aria-describedby).
    described = p.js("() => document.getElementById(document.querySelector('#ccg-map').closest('section')"
                     ".getAttribute('aria-describedby')).textContent")
    t = test_browser._atlas().table
    assert f"{int((t['level_2016'] == 'delegated').sum())} delegated" in described and "2016/17" in described
    captions = p.js("() => ['team-chart', 'imd-chart'].map(id => document.getElementById(id).closest('figure')"
                    ".querySelector('figcaption').textContent)")
    assert all(len(c) > 40 for c in captions), captions
    # Radio groups and dropdowns are named by their visible labels.
    assert p.page.get_by_role("radiogroup", name="Year").count() == 1
    assert p.page.get_by_role("radiogroup", name="Evidence behind each level").count() == 1
    assert p.page.get_by_role("button", name="Region").count() == 1
    assert p.page.get_by_role("slider", name="Deprivation quintile from (1 = most deprived)").count() == 1
    # Plain words: IMD spelled out where the filters first use it, and a glossary of the page's terms.
    assert "Index of Multiple Deprivation" in p.page.inner_text("#imd-range-label")
    assert "NHS England" in p.page.inner_text(".about")
    p.page.locator("#glossary > summary").click()
    terms = p.js("() => Array.from(document.querySelectorAll('#glossary dt')).map(d => d.textContent)")
    for term in ("Area team", "ODS code", "GSS code", LEVEL_LABEL["not_delegated"], LEVEL_LABEL["none"]):
        assert term in terms, (term, terms)
    p.close()


def test_no_two_controls_share_a_name(request: pytest.FixtureRequest, live_server: str) -> None:
    p = open_loaded(request, live_server + "/?year=2016")
    names = p.js("""() => Array.from(document.querySelectorAll('button, [role=button], input[type=button]'))
        .filter(b => !b.closest('#ccg-table'))  /* the table is its own component (dashboard/table.py) */
        .map(b => (b.getAttribute('aria-label') || b.textContent || '').trim())""")
    dupes = sorted({n for n in names if names.count(n) > 1})
    assert not dupes, f"controls sharing a name: {dupes}"
    assert sum("Reset view" in n for n in names) == 1, [n for n in names if "Reset" in n]
    p.close()


def test_published_totals_name_their_sources(request: pytest.FixtureRequest, live_server: str, atlas) -> None:  # noqa: ANN001
    """Each published total shows its source's title as a link (ids such as HSJ_5082478 only for a source the
    SOURCES.md table does not list)."""
    p = open_loaded(request, live_server + "/?year=2016")
    cells = p.js("() => Array.from(document.querySelectorAll('#reconciliation tbody tr td:last-child'))"
                 ".map(td => [td.textContent, td.querySelector('a[href^=http]')?.href || ''])")
    p.close()
    rec = atlas.reconciliation
    want = [[title, url] for title, url in zip(rec["source_title"], rec["source_url"], strict=True)]
    assert cells == want, cells[:3]
    linked = sum(bool(url) for _, url in cells)
    assert linked >= 0.8 * len(cells) and all("_" not in text for text, url in cells if url), cells[:3]


def test_totals_sources_show_as_linked_titles_once_the_atlas_has_them(atlas) -> None:  # noqa: ANN001
    """A title with a URL is a link; a source without either shows its id."""
    from dashboard.components import reconciliation_table

    rec = atlas.reconciliation.head(2).assign(source_title=["An article", ""], source_url=["https://example.org/a", ""])
    rows = reconciliation_table(rec).children[1].children
    first, second = rows[0].children[-1].children, rows[1].children[-1].children
    assert first.children == "An article" and first.href == "https://example.org/a"
    assert second == atlas.reconciliation["source_id"].iloc[1]  # no title: the id, as today
