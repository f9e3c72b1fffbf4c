"""The map's fit (assets/mapfit.js): every filter framed with a margin, and never framed back to an older view.

A fit can wait: the map's frame may be hidden when bounds arrive. A newer fit asked for meanwhile (a filter
change, a zoom button) must win, or the map jumps back to the old frame under a visitor's finger, or under a
test's click. And every area team and region, at a laptop's and a phone's size, must be framed so that no CCG of
the filter touches the map's edge: the geometry the page drew, projected as plotly projected it, is checked
against the plot area, vertex by vertex.
"""

from __future__ import annotations

import pytest
from test_browser import MAP_VIEW, browser, open_page  # noqa: F401

from dashboard import figures
from dashboard.state import ViewState

pytestmark = [pytest.mark.browser]

# England, then Greater Manchester (west, south, east, north).
ENGLAND = [-6.4, 49.9, 1.8, 55.8]
MANCHESTER = [-2.73, 53.33, -1.91, 53.69]
LAPTOP, PHONE = {"width": 1440, "height": 1000}, {"width": 390, "height": 844}
MARGIN_PX = 3  # the least gap between a framed CCG and the map's edge


def test_a_waiting_fit_is_dropped_when_a_newer_one_arrives(open_page) -> None:  # noqa: ANN001, F811
    p = open_page()
    out = p.page.evaluate("""async ([older, newer]) => {
        const frame = document.getElementById('map-frame');
        const fit = window.dash_clientside.atlas.fitMap;
        frame.style.display = 'none';                 /* not laid out: both fits wait for it */
        const first = fit(older), second = fit(newer);
        await new Promise((r) => setTimeout(r, 200));
        frame.style.display = '';
        const [a, b] = await Promise.all([first, second]);
        const noUpdate = window.dash_clientside.no_update;
        const centre = (patch) => (patch.operations || []).find((op) => op.location.join('.') === 'layout.geo.center');
        return {olderDropped: a === noUpdate, newerApplied: b !== noUpdate && !!centre(b),
                centreLon: b !== noUpdate && centre(b) ? centre(b).params.value.lon : null};
    }""", [ENGLAND, MANCHESTER])
    assert out["olderDropped"] and out["newerApplied"], out
    assert out["centreLon"] == pytest.approx((MANCHESTER[0] + MANCHESTER[2]) / 2)


def test_a_fit_that_need_not_wait_is_applied(open_page) -> None:  # noqa: ANN001, F811
    p = open_page()
    out = p.page.evaluate("""(b) => {
        const patch = window.dash_clientside.atlas.fitMap(b);
        const op = (patch.operations || []).find((o) => o.location.join('.') === 'layout.geo.lonaxis.range');
        return op ? op.params.value : null; }""", MANCHESTER)
    assert out is not None and out[1] - out[0] < 2  # a city-region's frame: a degree or two of longitude wide
    assert out[0] < MANCHESTER[0] and out[1] > MANCHESTER[2]


# Projects every vertex of the given CCGs as the drawn map does and returns the least gap, in pixels, between them
# and each edge of the plot area (negative: cut off), after the fit for ``bounds`` has been drawn.
GAPS = """([codes, rev]) => {
    const gd = document.querySelector('#ccg-map .js-plotly-plot');
    const view = __VIEW__;
    const P = gd._fullLayout.geo._subplot.projection, want = new Set(codes);
    const feats = gd.data[__T_CCG__].geojson.features;
    let west = Infinity, north = Infinity, east = -Infinity, south = -Infinity, n = 0;
    const visit = (c) => { if (typeof c[0] === 'number') { const p = P(c); west = Math.min(west, p[0]);
        east = Math.max(east, p[0]); north = Math.min(north, p[1]); south = Math.max(south, p[1]); }
        else { c.forEach(visit); } };
    feats.forEach((f) => { if (want.has(f.id)) { n += 1; visit(f.geometry.coordinates); } });
    const [x0, y0, x1, y1] = view.area;
    return {n: n, rev: gd._fullLayout.uirevision === rev, gaps: [west - x0, y1 - south, x1 - east, north - y0]};
}""".replace("__VIEW__", MAP_VIEW).replace("__T_CCG__", str(figures.T_CCG))


def _scopes(service) -> list[tuple[str, dict]]:  # noqa: ANN001
    teams = sorted(service.table["area_team"].unique())
    regions = sorted(service.table["region"].unique())
    return ([(f"team {t}", {"area_teams": (t,)}) for t in teams]
            + [(f"region {r}", {"regions": (r,)}) for r in regions])


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_every_area_team_and_region_is_framed_with_a_margin(open_page, service, viewport) -> None:  # noqa: ANN001, F811
    p = open_page("", viewport)
    p.wait_drawn()
    scopes = _scopes(service)
    assert len(scopes) == 25 + 4
    failures = []
    for name, filters in scopes:
        view = service.view(ViewState(**filters))
        codes = view.table.index[view.mask].tolist()
        bounds = figures.filter_bounds(view)
        old = p.js("() => document.getElementById('map-frame').dataset.fitRevision")
        # The same path as a filter change: the map-bounds store, whose change the clientside fit answers.
        p.page.evaluate("(b) => window.dash_clientside.set_props('map-bounds', {data: b})", [float(b) for b in bounds])
        rev = p.page.wait_for_function("""(old) => { const f = document.getElementById('map-frame');
            return f.dataset.fitRevision !== old && f.dataset.fitRevision; }""", arg=old, timeout=15000).json_value()
        p.wait_drawn()
        out = p.page.evaluate(GAPS, [codes, rev])
        assert out["rev"] and out["n"] == len(codes), (name, out)
        if min(out["gaps"]) < MARGIN_PX:
            failures.append((name, [round(g, 1) for g in out["gaps"]]))
    assert not failures, f"CCGs touch or cross the map's edge (gaps west, south, east, north in px): {failures}"


def test_the_map_draws_one_path_per_ccg_in_view(open_page, service) -> None:  # noqa: ANN001, F811
    """An SVG path per CCG: all 209 in England's view; in Greater Manchester's, a drawn path for each of its 12 and
    none for a CCG wholly outside the map (plotly's projection clips them away)."""
    p = open_page()
    count = """(t) => { const layer = document.querySelectorAll('#ccg-map .geo .choroplethlayer .trace')[t];
        return Array.from(layer.querySelectorAll('path.choroplethlocation'))
            .filter((el) => (el.getAttribute('d') || '').length > 2).map((el) => el.__data__.loc); }"""
    england = p.page.evaluate(count, 1)  # the second choropleth: the CCGs (the first is England, faded)
    assert len(england) == len(set(england)) == 209
    p2 = open_page("?area_team=Greater%20Manchester")
    drawn = set(p2.page.evaluate(count, 1))
    view = service.view(ViewState(area_teams=("Greater Manchester",)))
    team = set(view.table.index[view.mask])
    assert len(team) == 12 and team <= drawn
    assert len(drawn) < 60, f"{len(drawn)} CCG paths drawn for a 12-CCG view: the map draws more than is in view"


def test_the_map_names_its_ccgs_at_area_team_zoom_and_a_control_hides_them(open_page, service) -> None:  # noqa: ANN001, F811
    """Greater Manchester (12 CCGs) on a laptop: each CCG named on the map, inside it, none over another; England
    (209 in view): no names; unticking "map-names" hides them."""
    p = open_page("?area_team=Greater%20Manchester", LAPTOP)
    view = service.view(ViewState(area_teams=("Greater Manchester",)))
    want = {str(n).removeprefix("NHS ").removesuffix(" CCG") for n in view.table["ccg_name"][view.mask]}
    p.page.wait_for_function("() => document.getElementById('map-frame').dataset.namesShown === '12'",
                             timeout=15000)
    names = p.js("""() => Array.from(document.querySelectorAll('#map-name-layer text.map-name')).map((t) => ({
        text: Array.from(t.querySelectorAll('tspan')).map((s) => s.textContent).join(' '),
        box: t.getBoundingClientRect().toJSON()}))""")
    assert {n["text"] for n in names} == want
    graph = p.page.locator("#ccg-map").bounding_box()
    for n in names:
        b = n["box"]
        assert graph["x"] <= b["left"] and b["right"] <= graph["x"] + graph["width"], n
        assert graph["y"] <= b["top"] and b["bottom"] <= graph["y"] + graph["height"], n
    boxes = [n["box"] for n in names]
    overlaps = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                if a["left"] < b["right"] and b["left"] < a["right"]
                and a["top"] < b["bottom"] and b["top"] < a["bottom"]]
    assert not overlaps, overlaps
    p.page.locator("#map-names input[type=checkbox]").uncheck()
    p.page.wait_for_function("() => document.getElementById('map-frame').dataset.namesShown === '0'", timeout=15000)
    assert p.js("() => document.querySelectorAll('#map-name-layer text').length") == 0
    p.page.locator("#map-names input[type=checkbox]").check()
    p.page.wait_for_function("() => document.getElementById('map-frame').dataset.namesShown === '12'",
                             timeout=15000)
    england = open_page("", LAPTOP)
    england.page.wait_for_function("() => document.getElementById('map-frame').dataset.namesInView === '209'",
                                   timeout=15000)
    assert england.js("() => document.querySelectorAll('#map-name-layer text').length") == 0
