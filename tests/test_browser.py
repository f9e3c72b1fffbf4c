"""The page in a real Chromium (Debian's, driven by Playwright), served by gunicorn on loopback."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from dashboard.figures import FADED_SLOT, T_CCG
from dashboard.page.page_signals import MAP_IDLE_AT_FIT, PANELS_ARRIVED, RESET_MAP_IDLE, STATISTICS_SHOWN

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
#: The page map's CCG trace, in the browser's JavaScript.
CCGS = f"document.querySelector('#ccg-map .js-plotly-plot').data[{T_CCG}]"
#: What the page map shows, in the browser: the centre of its plot area, its zoom as a web-Mercator zoom (the
#: scale at which a degree of longitude is this many 512-pixel tiles' pixels), and the plot area's west, south,
#: east and north; and the plot area itself in the graph's pixels (x0, y0, x1, y1).
MAP_VIEW = """(() => { const gd = document.querySelector('#ccg-map .js-plotly-plot');
    const L = gd._fullLayout, s = L._size, d = L.geo.domain, P = L.geo._subplot.projection;
    const x0 = s.l + s.w * d.x[0], x1 = s.l + s.w * d.x[1];
    const y0 = s.t + s.h * (1 - d.y[1]), y1 = s.t + s.h * (1 - d.y[0]);
    const c = P.invert([(x0 + x1) / 2, (y0 + y1) / 2]), nw = P.invert([x0, y0]), se = P.invert([x1, y1]);
    return {lon: c[0], lat: c[1], zoom: Math.log2((P([1, 0])[0] - P([0, 0])[0]) * 360 / 512),
            bounds: [nw[0], se[1], se[0], nw[1]], area: [x0, y0, x1, y1]}; })()"""
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-quic", "--no-first-run", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                       reason="Debian chromium is not installed (make test installs it)"),
]


@pytest.fixture
def browser():  # noqa: ANN201
    """A fresh Chromium per test, so no test inherits another's cache or state."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page:
    """A page plus what it logged and requested, so every test can check console errors and traffic."""

    def __init__(self, browser, url: str, viewport: dict[str, int] | None = None) -> None:  # noqa: ANN001
        self.ctx = browser.new_context(viewport=viewport or {"width": 1400, "height": 1000})
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.map_clicks_sent = 0  # callback requests that carried a map click (the map-click store) to the server
        self.callbacks: list[str] = []  # the output key of every callback request sent, in order
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", self._on_request)
        self.page.goto(url, wait_until="networkidle")
        self.wait_map()

    def wait_map(self) -> None:
        self.page.wait_for_function(
            "() => { const g = document.querySelector('#ccg-map .js-plotly-plot');"
            f" return g && g.data && g.data[{T_CCG}] && g.data[{T_CCG}].locations.length > 0"
            " && document.querySelector('#ccg-map .choroplethlocation'); }",
            timeout=30000)
        self.settle()
        self.wait_drawn()

    def wait_drawn(self, timeout: int = 30000) -> None:
        """Wait until the clientside fit is applied and plotly has drawn it, checked on three frames in a row.

        The map draws asynchronously after Plotly has its data, and a fit that arrives after the first draw (a
        filter change, a zoom button) moves it once more; a screenshot or a click before then hits a blank,
        half-drawn or moving map (seen on a loaded CI run).
        """
        try:
            self._wait_idle(timeout)
        except Exception as exc:
            state = self.js("""() => { const g = document.querySelector('#ccg-map .js-plotly-plot');
                const f = document.getElementById('map-frame');
                return g && g._fullLayout ? {drawn: g._fullLayout.uirevision, fit: f && f.dataset.fitRevision,
                                             paths: g.querySelectorAll('.choroplethlocation').length} : 'no map'; }""")
            raise AssertionError(f"the map never finished drawing: {state}; console errors {self.errors[:3]}") from exc

    def _wait_idle(self, timeout: int) -> None:
        self.js(RESET_MAP_IDLE)
        self.page.wait_for_function(MAP_IDLE_AT_FIT, timeout=timeout, polling="raf")

    def settle(self) -> None:
        """Wait until Dash has no callback in flight (no request for 500 ms) and React has painted twice since."""
        self.page.wait_for_load_state("networkidle")
        self.page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def panels(self, timeout: int = 30000) -> None:
        """Wait until the counts and the three charts have arrived: nothing above the statistics reflows after."""
        self.page.wait_for_function(PANELS_ARRIVED, timeout=timeout)

    def statistics(self, timeout: int = 60000) -> None:
        """Go to the statistics as a reader does (open them if folded, scroll to them) and wait until the
        clustering and robustness panels show the page's view: they are worked out only when seen."""
        if not self.js("() => document.getElementById('statistics').open"):
            self.page.locator("#statistics > summary").click()
        self.page.locator("#clustering").scroll_into_view_if_needed()
        self.page.wait_for_function(STATISTICS_SHOWN, timeout=timeout)

    def wait_text(self, selector: str, text: str, timeout: int = 30000) -> None:
        """Wait until the element shows the text: callbacks land some time after the URL changes."""
        try:
            self.page.wait_for_function("([sel, t]) => (document.querySelector(sel)?.innerText || '').includes(t)",
                                        arg=[selector, text], timeout=timeout)
        except Exception as exc:
            shown = self.page.inner_text(selector) if self.page.locator(selector).count() else "(missing)"
            raise AssertionError(f"{selector} never showed {text!r}; it shows {shown[:600]!r} "
                                 f"at {self.page.url}") from exc

    def js(self, expr: str):  # noqa: ANN201
        return self.page.evaluate(expr)

    def z(self) -> list[int]:
        return self.js(f"() => Array.from({CCGS}.z)")

    def summary(self) -> str:
        return self.page.inner_text("#level-summary")

    def _on_request(self, request) -> None:  # noqa: ANN001
        self.requests.append(request.url)
        if "_dash-update-component" in request.url:
            body = request.post_data or ""
            self.map_clicks_sent += "map-click.data" in body
            try:
                self.callbacks.append(str(json.loads(body).get("output", "")))
            except ValueError:
                self.callbacks.append("")

    def close(self) -> None:
        assert not [e for e in self.errors if "GPU stall" not in e], self.errors
        foreign = [u for u in self.requests if urlparse(u).hostname not in ("127.0.0.1", "localhost", None)
                   and not u.startswith(("data:", "blob:"))]
        assert not foreign, f"requests left localhost: {foreign[:5]}"
        self.ctx.close()


@pytest.fixture
def open_page(browser, live_server):  # noqa: ANN001, ANN201
    pages: list[Page] = []

    def _open(query: str = "", viewport: dict[str, int] | None = None) -> Page:
        p = Page(browser, live_server + "/" + query, viewport)
        pages.append(p)
        return p

    yield _open
    for p in pages:
        p.close()


_ATLAS: list = []


def _atlas():  # noqa: ANN202
    """The session atlas (the one the live server serves), read once: the click helpers look CCGs up often."""
    if not _ATLAS:
        from conftest import session_atlas_dir

        from geodata.atlas import read_atlas

        _ATLAS.append(read_atlas(session_atlas_dir()))
    return _ATLAS[0]


def test_map_draws_all_209_ccgs_in_level_colours(open_page) -> None:  # noqa: ANN001
    from PIL import Image

    p = open_page()
    assert p.js(f"() => {CCGS}.locations.length") == 209
    assert p.js(f"() => {CCGS}.geojson.features.length") == 209
    # SVG paths, one per CCG in the CCG layer (and England in the faded tone beneath: the same shapes again)
    assert p.js("() => document.querySelectorAll('#ccg-map .choroplethlocation').length") == 2 * 209
    assert p.js("() => document.querySelectorAll('#ccg-map canvas').length") == 0
    assert p.page.locator(".modebar-btn[data-title^='Share chart']").count() == 0  # nothing is uploaded
    from dashboard.figures import IN_OPACITY, LEVEL_COLOR
    from geodata.vocabulary import FADED_COLOR

    def on_white(hex_colour: str) -> tuple[int, ...]:  # over England in the faded tone, in fact
        rgb = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
        under = [int(FADED_COLOR[i:i + 2], 16) for i in (1, 3, 5)]
        return tuple(round(c * IN_OPACITY + u * (1 - IN_OPACITY)) for c, u in zip(rgb, under))

    near = lambda rgb, target: all(abs(a - b) <= 10 for a, b in zip(rgb, target))  # noqa: E731

    def pixels() -> tuple[int, int, list]:
        img = Image.open(io.BytesIO(p.page.locator("#ccg-map").screenshot())).convert("RGB")
        colours = img.getcolors(maxcolors=1_000_000)
        return (sum(n for n, c in colours if near(c, on_white(LEVEL_COLOR["delegated"]))),
                sum(n for n, c in colours if near(c, on_white(LEVEL_COLOR["unknown"]))),
                sorted(colours, reverse=True)[:6])

    delegated, unknown, top = pixels()  # wait_map waited until plotly drew the fitted map, idle on three frames
    assert delegated > 2000, f"delegated CCGs are not drawn in blue: {delegated} px; commonest colours {top}"
    assert unknown > 2000, f"unknown CCGs are not drawn in grey: {unknown} px; commonest colours {top}"


def test_changing_year_changes_colours_and_counts(open_page) -> None:  # noqa: ANN001
    p = open_page()
    before, summary_before = p.z(), p.summary()
    p.page.get_by_label("2015/16").check()
    p.page.wait_for_function("() => new URL(location.href).searchParams.get('year') === '2015'")
    p.wait_text("#level-summary", "2015/16")
    p.page.wait_for_function(f"(z0) => JSON.stringify(Array.from({CCGS}.z)) !== z0", arg=json.dumps(before),
                             timeout=30000)
    after = p.z()
    assert before != after
    atlas = _atlas()
    order = ["delegated", "joint", "greater_involvement", "none", "not_delegated", "unknown"]
    assert after == [order.index(v) for v in atlas.table["level_2015"]]
    assert p.summary() != summary_before


def test_size_chart_names_every_ccg_by_level_after_a_year_change(open_page) -> None:  # noqa: ANN001
    """The size chart arrives as row numbers (its names and populations come from the map in the browser): after a
    year change it draws the server's figure for the new year, every CCG under its new level, named."""
    from dashboard import figures
    from dashboard.service import AtlasService
    from dashboard.state import ViewState

    p = open_page("?year=2016&region=London")
    p.page.get_by_label("2015/16").check()
    p.page.wait_for_function("() => new URL(location.href).searchParams.get('year') === '2015'")
    p.page.wait_for_function("() => { const g = document.querySelector('#size-chart .js-plotly-plot');"
                             " return !!g && !!g.layout && /2015\\/16/.test(JSON.stringify(g.layout.title)); }",
                             timeout=30000)
    drawn = p.js("() => document.querySelector('#size-chart .js-plotly-plot').data.map(t => [t.text, t.x])")
    want = figures.size_by_level_figure(AtlasService(_atlas()).view(ViewState(year=2015, regions=("London",))))
    assert drawn == [[t["text"], t["x"]] for t in want["data"]]
    assert sum(len(names) for names, _ in drawn) == 32  # London's CCGs, each once, with its name


def test_area_team_filter_changes_summary_to_that_team(open_page) -> None:  # noqa: ANN001
    atlas = _atlas()
    team = atlas.table[atlas.table["area_team"] == "Greater Manchester"]
    p = open_page()
    assert "209 CCGs in England" in p.summary()
    p.page.click("#area-team")
    p.page.wait_for_function("() => document.activeElement && document.activeElement.type === 'search'")
    p.page.keyboard.type("Greater Manch")
    option = p.page.get_by_role("option", name="Greater Manchester", exact=True)
    option.wait_for(timeout=30000)  # the list filters as it is typed into; choose once it shows the team
    option.click()
    p.page.wait_for_function("() => location.search.includes('area_team=Greater+Manchester')")
    p.wait_text("#level-summary", f"{len(team)} CCGs in the filter")
    delegated = int((team["level_2016"] == "delegated").sum())
    row = p.page.locator("#level-summary tr", has_text="Delegated (level 3)").inner_text()
    assert row.split("\t")[1].strip() == str(delegated)
    z = p.z()  # a CCG outside the filter is drawn in the faded tone (the colour scale's last slot)
    assert sum(v != FADED_SLOT for v in z) == len(team)


def test_url_reproduces_view_and_ignores_bad_values(open_page) -> None:  # noqa: ANN001
    atlas = _atlas()
    t = atlas.table
    expected = t[(t["area_team"] == "Greater Manchester") & t["imd_quintile"].between(1, 2)]
    p = open_page("?year=2015&area_team=Greater%20Manchester&imd=1-2&year_typo=1&region=Atlantis")
    p.wait_text("#level-summary", f"{len(expected)} CCGs in the filter")
    order = ["delegated", "joint", "greater_involvement", "none", "not_delegated", "unknown"]
    want = [order.index(v) for v in t["level_2015"]]
    want = [w if g else FADED_SLOT for w, g in zip(want, t.index.isin(expected.index))]
    p.page.wait_for_function(f"(z) => JSON.stringify(Array.from({CCGS}.z)) === z",
                             arg=json.dumps(want, separators=(",", ":")), timeout=30000)
    assert p.page.is_checked("#year input[value='2015']")
    assert f"{len(expected)} CCGs in the filter" in p.summary()
    notice = p.page.inner_text("#notices")
    assert "Atlantis" in notice and "year_typo" in notice
    assert p.z() == want, "the map is not coloured by the link's year"


def test_back_and_forward_restore_views(open_page) -> None:  # noqa: ANN001
    p = open_page("?year=2016")
    p.page.get_by_label("2015/16").check()
    p.page.wait_for_function("() => location.search.includes('year=2015')")
    p.settle()
    p.wait_text("#level-summary", "2015/16")
    p.page.go_back()
    p.page.wait_for_function("() => document.querySelector(\"#year input[value='2016']\").checked")
    p.wait_text("#level-summary", "2016/17")
    p.page.go_forward()
    p.page.wait_for_function("() => document.querySelector(\"#year input[value='2015']\").checked")


def test_clicking_a_ccg_opens_its_details(open_page) -> None:  # noqa: ANN001
    atlas = _atlas()
    ccg = atlas.table.loc["E38000206"]  # Wiltshire: large, far from the legend
    p = open_page()
    _click(p, "E38000206")  # after wait_drawn, so the map no longer moves (a second click would unselect)
    _wait_url(p, "() => location.search.includes('ccg=E38000206')")
    p.wait_text("#ccg-details", "NHS Wiltshire CCG")
    details = p.page.inner_text("#ccg-details")
    assert "99N" in details and ccg["area_team"] in details
    widths = p.js(f"() => {CCGS}.marker.line.width")
    assert max(widths) > 1 and sorted(widths)[-2] < 1  # exactly one CCG outlined


_INSIDE: dict[str, tuple[float, float]] = {}


def _deep_inside(code: str) -> tuple[float, float]:
    """The point of the CCG's largest polygon farthest from its edge (a click there cannot land on a neighbour)."""
    if code not in _INSIDE:
        from shapely.geometry import shape
        from shapely.ops import polylabel

        feature = next(f for f in _atlas().ccgs_geojson["features"] if f["id"] == code)
        geom = shape(feature["geometry"])
        largest = max(getattr(geom, "geoms", [geom]), key=lambda g: g.area)
        pt = polylabel(largest, tolerance=0.001)
        _INSIDE[code] = (pt.x, pt.y)
    return _INSIDE[code]


def _screen_xy(p: Page, code: str) -> list[float]:
    lon, lat = _deep_inside(code)
    return p.js(f"""() => {{
        const gd = document.querySelector('#ccg-map .js-plotly-plot');
        const pt = gd._fullLayout.geo._subplot.projection([{lon}, {lat}]);  /* pixels in the graph's own box */
        const r = gd.getBoundingClientRect();
        return [Math.round(r.left + pt[0]), Math.round(r.top + pt[1])];
    }}""")


def _click(p: Page, code: str) -> None:
    """Hover until Plotly's hover point is the CCG, click once, and wait until the click reached the server.

    Signals, in order: ``mapfit.js`` counts the clicks Plotly reports (``data-clicks`` on ``#ccg-map``), then the
    page sends a callback whose ``changedPropIds`` names ``map-click.data``. A click is repeated only when that
    callback was never sent, so the server never saw it and clicking again cannot toggle twice.
    """
    name = str(_atlas().table.at[code, "ccg_name"])
    # Once the panels above the statistics have arrived nothing more reflows the page (a reflow after the hover
    # once moved the map under the mouse, and Plotly reported the neighbour's click); the statistics below are
    # worked out only when the reader reaches them.
    p.panels()
    p.wait_drawn()
    for _lost_click_retry in range(3):  # headless Chromium and Dash drop the odd click right after a page load
        x, y = _hover(p, code, name)
        before, sent = p.js("() => Number(document.getElementById('ccg-map').dataset.clicks || 0)"), p.map_clicks_sent
        p.page.mouse.click(x, y)
        try:
            p.page.wait_for_function("(n) => Number(document.getElementById('ccg-map').dataset.clicks || 0) > n",
                                     arg=before, timeout=5000)
        except Exception:  # noqa: BLE001 - Plotly never saw the click
            continue
        got = p.js("() => document.getElementById('ccg-map').dataset.lastClick")
        assert got == code, f"clicked {name} ({code}) at {x:.0f}, {y:.0f} but Plotly reported {got!r}"
        deadline = time.monotonic() + 5
        while p.map_clicks_sent == sent and time.monotonic() < deadline:
            p.page.wait_for_timeout(50)  # Playwright delivers request events while the page runs
        if p.map_clicks_sent > sent:
            return
    raise AssertionError(f"three clicks on {name} never reached the server (no map-click callback was sent)")


def _hover(p: Page, code: str, name: str) -> tuple[int, int]:
    """Move onto the CCG until Plotly's current hover point is that CCG, its label shows, and the map has not moved
    since (the page growing as panels fill in can add a scrollbar, which resizes and shifts the map: a click at
    the old point then lands on a neighbour). Returns the point, projected after the last check.

    Plotly reports a click for its last hover point, so that point (``_hoverdata``), not only a label that may
    still be on screen from an earlier move, is what must be the CCG.
    """
    for step in range(8):
        x, y = _screen_xy(p, code)
        # A small move first, so Plotly computes a new hover; small, so that even a late hover event for it still
        # falls inside the CCG (a move onto a neighbour once made Plotly report the neighbour's click).
        p.page.mouse.move(x + (step % 2 * 2 - 1) * 2, y + 1)
        p.page.mouse.move(x, y)
        try:
            p.page.wait_for_function(
                "([c, n]) => { const gd = document.querySelector('#ccg-map .js-plotly-plot');"
                " const h = gd && gd._hoverdata; return !!h && h.length > 0 && h[0].location === c"
                " && [...document.querySelectorAll('#ccg-map .hoverlayer .hovertext')]"
                ".some((el) => el.textContent.includes(n)); }", arg=[code, name], timeout=2000)
        except Exception:  # noqa: BLE001
            p.wait_drawn()
            continue
        p.js("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
        if _screen_xy(p, code) == [x, y]:
            return x, y
        p.wait_drawn()  # the map moved under the mouse: wait until it is still, then hover again
    raise AssertionError(f"{name} never became Plotly's hover point at {x:.0f}, {y:.0f}")


def _callback_posts(p: Page) -> int:
    return sum("_dash-update-component" in u for u in p.requests)


def _wait_url(p: Page, predicate: str, timeout: int = 15000) -> None:
    """Wait for the URL to show a selection change; on failure say what the page logged and requested."""
    try:
        p.page.wait_for_function(predicate, timeout=timeout)
    except Exception as exc:
        posts = [u for u in p.requests if "_dash-update-component" in u]
        raise AssertionError(f"URL never matched {predicate}: at {p.page.url}; console errors {p.errors[:3]}; "
                             f"{len(posts)} callback requests") from exc


def _selected_in_url(p: Page) -> list[str]:
    return p.js("() => new URL(location.href).searchParams.getAll('ccg')")


def _plotly_selection(p: Page) -> object:
    return p.js(f"() => document.querySelector('#ccg-map .js-plotly-plot')._fullData[{T_CCG}].selectedpoints || null")


def test_clicks_add_and_remove_ccgs_and_keep_colours(open_page) -> None:  # noqa: ANN001
    """A click toggles one CCG in the selection; Plotly's own selection styling (which fades the rest) stays off."""
    wilts, devon = "E38000206", "E38000129"
    p = open_page()
    _click(p, wilts)
    _wait_url(p, f"() => location.search.includes('ccg={wilts}')")
    p.settle()
    _click(p, devon)
    _wait_url(p, f"() => location.search.includes('ccg={devon}')")
    assert sorted(_selected_in_url(p)) == sorted([wilts, devon]), "a second click must add, not replace"
    p.settle()
    _click(p, wilts)
    _wait_url(p, f"() => !location.search.includes('ccg={wilts}')")
    assert _selected_in_url(p) == [devon], "clicking a selected CCG again must remove it"
    p.settle()
    assert _plotly_selection(p) is None
    assert FADED_SLOT not in p.z(), "with no filter every CCG keeps full colour"


def test_box_select_replaces_selection_without_fading_the_map(open_page) -> None:  # noqa: ANN001
    p = open_page("?region=London")
    p.page.locator("#ccg-map .modebar-btn[data-title='Box Select']").click()
    p.page.wait_for_function("() => document.querySelector('#ccg-map .js-plotly-plot')._fullLayout.dragmode"
                             " === 'select'")
    p.wait_drawn()
    # Plotly selects a CCG whose own centre (not the atlas's point) is in the box: a box wider than a few pixels.
    # A drag that Plotly did not take as a selection is tried again: the same box gives the same selection.
    for attempt in range(3):
        x, y = _screen_xy(p, "E38000011")
        p.page.mouse.move(x - 25, y - 25)
        p.page.mouse.down()
        p.page.mouse.move(x + 25, y + 25, steps=10)
        p.page.mouse.up()
        try:
            _wait_url(p, "() => location.search.includes('ccg=E38000011')", timeout=6000)
            break
        except AssertionError:
            if attempt == 2:
                raise
            p.wait_drawn()
    p.settle()
    assert _plotly_selection(p) is None, "Plotly's selection styling must be cleared"
    p.wait_text("#ccg-details", "NHS Bexley CCG")


def test_search_box_selects_by_keyboard(open_page) -> None:  # noqa: ANN001
    p = open_page()
    p.page.focus("#ccg-search")
    p.page.keyboard.press("Enter")  # opens the list; its search box takes the focus
    p.page.wait_for_function("() => document.activeElement && document.activeElement.type === 'search'")
    p.page.keyboard.type("Sheffield")
    p.page.get_by_role("option", name="Sheffield (03N)").wait_for(timeout=30000)
    p.page.keyboard.press("ArrowDown")
    p.page.keyboard.press("Enter")
    p.page.wait_for_function("() => location.search.includes('ccg=E38000146')")
    p.wait_text("#ccg-details", "NHS Sheffield CCG")
    p.page.locator("#ccg-table").scroll_into_view_if_needed()  # the grid draws rows only once visible
    p.page.wait_for_function("() => Array.from(document.querySelectorAll('#ccg-table .ag-row [col-id=ccg_name]'))"
                             ".map(e => e.innerText).join('|') === 'NHS Sheffield CCG'")


def test_phone_layout_has_no_horizontal_scroll(open_page) -> None:  # noqa: ANN001
    p = open_page("?year=2016", viewport={"width": 390, "height": 844})
    overflow = p.js("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1
    assert p.page.locator("#ccg-map").bounding_box()["width"] <= 390


def test_table_lists_filtered_ccgs_and_page_shows_attributions(open_page) -> None:  # noqa: ANN001
    p = open_page("?region=London")
    p.page.locator("#ccg-table").scroll_into_view_if_needed()
    p.page.wait_for_function("() => document.querySelectorAll('#ccg-table .ag-row').length > 0")
    rows = p.js("() => document.querySelectorAll('#ccg-table .ag-center-cols-container .ag-row').length")
    assert 0 < rows <= 32
    footer = p.page.inner_text("footer")
    assert "Open Government Licence" in footer and "Crown copyright" in footer


def test_table_csv_is_named_after_the_view_and_escapes_formulas(open_page) -> None:  # noqa: ANN001
    p = open_page("?year=2015&region=London")
    p.wait_text("#table-caption", "Showing the 32 CCGs in the filter.")
    with p.page.expect_download(timeout=30000) as info:
        p.page.click("#table-csv")
    download = info.value
    assert download.suggested_filename == "ccg-cocommissioning-table-2015-london.csv"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert len([line for line in text.splitlines() if line.strip()]) == 33  # header + 32 CCGs
    escaped = p.js("() => [window.dashAgGridFunctions.escapeCsvCell({value: '=HYPERLINK(1)'}),"
                   " window.dashAgGridFunctions.escapeCsvCell({value: -3.5}),"
                   " window.dashAgGridFunctions.escapeCsvCell({value: 'NHS Bexley CCG'})]")
    assert escaped == ["'=HYPERLINK(1)", -3.5, "NHS Bexley CCG"]
