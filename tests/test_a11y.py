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


def open_loaded(request: pytest.FixtureRequest, url: str, phone: bool = False, statistics: bool = True) -> Page:
    """The page once everything a visitor waits for has arrived: map drawn, every panel filled, charts drawn, and
    (``statistics``) the statistics, which are worked out when the reader reaches them; back at the top."""
    chromium = request.getfixturevalue("browser")
    device = Device(chromium, is_mobile=True, has_touch=True, device_scale_factor=2) if phone else chromium
    p = Page(device, url, PHONE if phone else LAPTOP)
    p.panels()
    if statistics:
        p.statistics()  # opened on a phone, where they start folded
        p.js("() => window.scrollTo(0, 0)")
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


@pytest.mark.parametrize("phone", [False, True], ids=["laptop", "phone"])
def test_the_loaded_table_has_no_serious_accessibility_violations(request: pytest.FixtureRequest, live_server: str,
                                                                   phone: bool) -> None:
    """The CCG table loads when the reader nears it (assets/grid-lazy.js): scanned once its rows are in, so AG
    Grid's own markup (its focusable scroll regions, its row groups) is checked too."""
    p = open_loaded(request, live_server + "/?year=2016&region=London", phone)
    p.page.locator("#ccg-table").scroll_into_view_if_needed()
    p.page.wait_for_function("() => document.querySelectorAll('#ccg-table .ag-row').length > 5", timeout=60000)
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
        .filter(b => !b.closest('#ccg-table'))  /* the table is its own component (dashboard/page/table.py) */
        .map(b => (b.getAttribute('aria-label') || b.textContent || '').trim())""")
    dupes = sorted({n for n in names if names.count(n) > 1})
    assert not dupes, f"controls sharing a name: {dupes}"
    assert sum("Reset view" in n for n in names) == 1, [n for n in names if "Reset" in n]
    p.close()


def test_published_totals_name_their_sources(request: pytest.FixtureRequest, live_server: str, atlas) -> None:  # noqa: ANN001
    """Each published total shows its source's title as a link and its measure in words; what the totals imply
    names its sources by title too: no internal id (HSJ_5082478, in_operation_1Apr2015) anywhere in the text."""
    import re

    from dashboard.page.components import source_titles

    p = open_loaded(request, live_server + "/?year=2016")
    cells = p.js("() => Array.from(document.querySelectorAll('#reconciliation tbody tr td:last-child'))"
                 ".map(td => [td.textContent, td.querySelector('a[href^=http]')?.href || ''])")
    text = p.page.inner_text("#statistics")
    p.close()
    rec = atlas.reconciliation
    titles = source_titles(rec)
    assert cells == [list(titles[sid]) for sid in rec["source_id"]], cells[:3]
    linked = sum(bool(url) for _, url in cells)
    assert linked >= 0.8 * len(cells), cells[:3]
    ids = {i for i in set(rec["source_id"]) | set(rec["measure"]) if "_" in i}  # "approved" is a word too
    assert not [i for i in ids if i in text], [i for i in ids if i in text]
    assert not re.search(r"\b[A-Za-z]+_[A-Za-z0-9_]+\b", text), re.findall(r"\b[A-Za-z]+_[A-Za-z0-9_]+\b", text)[:5]
    assert "in operation from 1 April 2015" in text


def test_totals_sources_show_as_linked_titles_once_the_atlas_has_them(atlas) -> None:  # noqa: ANN001
    """A title with a URL is a link; a source without a title shows in words, never its id."""
    from dashboard.page.components import measure_words, reconciliation_table, source_words

    rec = atlas.reconciliation.head(2).assign(
        source_title=["An article", ""], source_url=["https://example.org/a", ""], source_id=["X_1", "HSJ_123"],
        measure=["in_operation_1Apr2015", "odd_one"])
    frame = reconciliation_table(rec)
    assert frame.tabIndex == "0" and frame.role == "region" and "scrolls sideways" in frame.to_plotly_json()[
        "props"]["aria-label"]
    rows = frame.children.children[1].children
    first, second = rows[0].children[-1].children, rows[1].children[-1].children
    assert first.children == "An article" and first.href == "https://example.org/a"
    assert second == "HSJ article 123 (title not recorded)" == source_words("HSJ_123")
    assert [r.children[-2].children for r in rows] == ["in operation from 1 April 2015", "odd one"]
    assert measure_words("approved") == "approved by NHS England"


def test_bounds_name_sources_by_title(atlas) -> None:  # noqa: ANN001
    """What the published totals imply: each sentence without its parenthesised ids, its sources by title after."""
    from dashboard.page.components import bounds_list, source_titles, source_words

    items = bounds_list(atlas.bounds, atlas.reconciliation)
    assert len(items) == len(atlas.bounds)
    titles = source_titles(atlas.reconciliation)
    for li, sources in zip(items, atlas.bounds["sources"], strict=True):
        text, _, named = li.children
        assert "(" + sources + ")" not in text and "_" not in text
        for sid in str(sources).split(", "):  # a source no published total in the table cites: in words
            assert titles.get(sid, (source_words(sid), ""))[0] in named.children
            assert sid not in named.children


def _tab_until(p: Page, done: str, limit: int = 80) -> list[dict[str, object]]:
    """Press Tab until ``done`` (a JS predicate on the focused element ``a``) holds, at most ``limit`` times; each
    focused element's name, whether it is in the CCG table, and its focus outline as computed."""
    seen = []
    for _ in range(limit):
        p.page.keyboard.press("Tab")
        got = p.page.evaluate(f"""() => {{ const a = document.activeElement, s = getComputedStyle(a);
            let shown = 1; for (let e = a; e; e = e.parentElement) shown *= Number(getComputedStyle(e).opacity);
            return {{tag: a.tagName, name: (a.getAttribute('aria-label') || a.id || a.textContent || '').trim()
                        .slice(0, 60), cls: String(a.className), inTable: !!a.closest('#ccg-table'),
                     width: parseFloat(s.outlineWidth) || 0, style: s.outlineStyle, opacity: shown,
                     visible: a.matches(':focus-visible'), done: (a => {done})(a)}}; }}""")
        seen.append(got)
        if got["done"]:
            break
    return seen


def test_table_is_one_tab_stop_with_arrow_keys_inside_and_a_skip_link(request: pytest.FixtureRequest,
                                                                      live_server: str) -> None:
    """London's table was 463 Tab presses: now the skip link, then one stop in the table, then out. Inside, the
    arrow keys move between cells, and Enter on a cell opens its source link; the links are not Tab stops."""
    p = open_loaded(request, live_server + "/?year=2016&region=London")
    p.page.locator("#ccg-table").scroll_into_view_if_needed()  # the grid loads near the screen (grid-lazy.js)
    p.page.wait_for_function("() => document.querySelectorAll('#ccg-table .ag-row [col-id=source_2016] a').length > 5",
                             timeout=60000)
    p.page.focus("#table-zip")
    stops = _tab_until(p, "!a.closest('#ccg-table') && a.id !== 'skip-table'")
    assert stops[0]["name"] == "skip-table", stops[0]  # the skip link, then the table
    in_table = [s for s in stops if s["inTable"]]
    assert 1 <= len(in_table) <= 2 and len(stops) <= 4, [s["name"] for s in stops]
    assert stops[-1]["name"] == "after-table" or not stops[-1]["inTable"], stops[-1]
    links = p.js("() => Array.from(document.querySelectorAll('#ccg-table a[href]')).map(a => a.tabIndex)")
    assert links and set(links) == {-1}, set(links)
    # Shift+Tab goes back into the table (one stop) and then out before it.
    back = []
    for _ in range(3):
        p.page.keyboard.press("Shift+Tab")
        back.append(p.js("() => document.activeElement.closest('#ccg-table') ? 'table' : document.activeElement.id"))
        if back[-1] not in ("table", "after-table"):
            break
    assert back.count("table") == 1 and back[-1] == "skip-table", back
    # Arrow keys inside: from the header down to the first row's CCG cell, right to the next cell.
    p.page.keyboard.press("Tab")
    assert p.js("() => !!document.activeElement.closest('#ccg-table .ag-header-cell')")
    p.page.keyboard.press("ArrowDown")
    first = p.js("() => [document.activeElement.classList.contains('ag-cell'), "
                 "document.activeElement.getAttribute('col-id')]")
    assert first[0], first
    # Enter on a source cell opens its first link (the click is caught here: no request leaves the machine).
    p.js("""() => document.addEventListener('click', (e) => { const a = e.target.closest('a');
        if (a) { e.preventDefault(); window.__opened = a.href; } }, true)""")
    for _ in range(20):
        if p.js("() => document.activeElement.getAttribute('col-id')") == "source_2016":
            break
        p.page.keyboard.press("ArrowRight")
    cell_link = p.js("() => document.activeElement.querySelector('a[href]')?.href")
    assert cell_link, "no source link in the focused cell"
    p.page.keyboard.press("Enter")
    assert p.js("() => window.__opened") == cell_link
    p.close()


def test_every_control_shows_a_focus_outline_of_at_least_2px(request: pytest.FixtureRequest,
                                                              live_server: str) -> None:
    """Tab from the top to the statistics: each control focused (map toolbar buttons included) has a visible
    outline of at least 2 px, and a toolbar shows (is opaque) while one of its buttons has the focus."""
    p = open_loaded(request, live_server + "/?year=2016")
    stops = _tab_until(p, "a.id === 'statistics-summary'", limit=80)
    assert stops[-1]["done"], [s["name"] for s in stops]
    weak = [s for s in stops if s["width"] < 2 or s["style"] in ("none", "hidden") or not s["visible"]]
    assert not weak, weak[:3]
    bar = [s for s in stops if "modebar-btn" in s["cls"]]
    assert len([s for s in bar if s["name"].startswith("Map:")]) >= 5, [s["name"] for s in bar]
    hidden = [s["name"] for s in bar if s["opacity"] < 0.99]
    assert not hidden, f"toolbar buttons focused while their toolbar is transparent: {hidden}"
    p.close()
