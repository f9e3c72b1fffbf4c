"""A shared link's first painted map is its view, and a filter change costs the browser a few kB.

Real Chromium on the production server (the fixtures of tests/test_browser.py). Every draw of the map is recorded
from the page's start (an init script wraps ``Plotly.react``/``newPlot`` as the bundle defines ``window.Plotly``),
so a first draw of England followed by the link's view would be seen.
"""

from __future__ import annotations

import gzip
import json

import pytest
from test_a11y import LAPTOP, PHONE
from test_browser import Page, _atlas, browser  # noqa: F401, F811

from dashboard.figures import FADED_SLOT, T_CCG
from geodata.vocabulary import LEVEL_ORDER

pytestmark = [pytest.mark.browser]

RECORD_DRAWS = """
(() => {
  const T_CCG = __T_CCG__;  // dashboard/figures T_CCG
  window.__mapDraws = [];
  const record = (gd) => {
    if (!gd || !gd.closest || !gd.closest('#ccg-map') || !gd.data || !gd.data[T_CCG]) return;
    const t = gd.data[T_CCG], geo = gd.layout.geo || {};
    window.__mapDraws.push({z: Array.from(t.z || []),
                            title: ((gd.layout.legend || {}).title || {}).text || '',
                            frame: JSON.stringify([(geo.lonaxis || {}).range, (geo.lataxis || {}).range]),
                            locations: (t.locations || []).length});
  };
  const wrap = (P) => {
    ['newPlot', 'react'].forEach((name) => {
      const original = P[name];
      if (typeof original !== 'function' || original.__recorded) return;
      P[name] = function (gd) {
        const out = original.apply(this, arguments);
        Promise.resolve(out).then(() => record(typeof gd === 'string' ? document.getElementById(gd) : gd));
        return out;
      };
      P[name].__recorded = true;
    });
    return P;
  };
  // Callback requests in flight, so a test can wait until a change's last answer has arrived.
  window.__inflight = 0;
  const fetch0 = window.fetch;
  window.fetch = function (url) {
    const counted = String(url).includes('_dash-update-component');
    if (counted) window.__inflight += 1;
    const out = fetch0.apply(this, arguments);
    if (counted) out.finally(() => { window.__inflight -= 1; });
    return out;
  };
  let plotly;
  Object.defineProperty(window, 'Plotly', {configurable: true, get: () => plotly, set: (v) => { plotly = wrap(v); }});
})();
""".replace("__T_CCG__", str(T_CCG))


@pytest.fixture
def open_recorded(browser, live_server):  # noqa: ANN001, ANN201, F811
    pages: list[Page] = []

    def _open(query: str = "", viewport: dict[str, int] | None = None) -> Page:
        ctx = browser.new_context(viewport=viewport or {"width": 1400, "height": 1000})
        ctx.add_init_script(RECORD_DRAWS)
        p = Page.__new__(Page)
        p.ctx = ctx
        p.page = ctx.new_page()
        p.errors, p.requests, p.map_clicks_sent, p.callbacks = [], [], 0, []
        p.answers = []
        p.page.on("console", lambda m: p.errors.append(m.text) if m.type == "error" else None)
        p.page.on("pageerror", lambda e: p.errors.append(str(e)))
        p.page.on("request", p._on_request)
        p.page.on("response", lambda r: _keep_answer(p, r))
        p.page.goto(live_server + "/" + query, wait_until="networkidle")
        p.wait_map()
        pages.append(p)
        return p

    yield _open
    for p in pages:
        p.close()


def _keep_answer(p: Page, response) -> None:  # noqa: ANN001
    if "_dash-update-component" in response.url:
        try:
            p.answers.append((response.request.post_data or "", response.body()))
        except Exception as exc:  # noqa: BLE001 - a response the page navigated away from has no body
            p.errors.append(f"no body for {response.url}: {exc}")


def _draws(p: Page) -> list[dict]:
    p.page.wait_for_function("() => (window.__mapDraws || []).length > 0", timeout=30000)
    return p.js("() => window.__mapDraws")


def _codes(year: int) -> list[int]:
    return [LEVEL_ORDER.index(v) for v in _atlas().table[f"level_{year}"]]


def _faded(codes: list[int], inside: list[bool]) -> list[int]:
    """The page map's colours: a CCG outside the filter in the faded tone (the colour scale's last slot)."""
    return [c if i else FADED_SLOT for c, i in zip(codes, inside)]


def test_area_team_link_first_draw_is_that_team_in_that_years_colours(open_recorded) -> None:  # noqa: ANN001
    p = open_recorded("?year=2015&area_team=Greater%20Manchester")
    draws = _draws(p)
    assert draws, "the map's draws were not recorded"
    first = draws[0]
    table = _atlas().table
    in_team = (table["area_team"] == "Greater Manchester").tolist()
    assert first["locations"] == 209
    assert first["z"] == _faded(_codes(2015), in_team), \
        "the first painted map does not show Greater Manchester's CCGs in 2015/16 levels with the others faded"
    assert "2015/16" in first["title"]
    # No later draw shows another view: England is never painted first and then replaced.
    for d in draws:
        assert d["z"] == first["z"], "the map was redrawn with another view"
    # The controls start at the link's values.
    assert p.page.get_by_label("2015/16").is_checked()
    assert "Greater Manchester" in p.page.inner_text("#area-team")
    p.wait_text("#level-summary", "2015/16")


def test_change_view_link_first_draw_is_the_change(open_recorded) -> None:  # noqa: ANN001
    p = open_recorded("?year=2016&view=change&region=London")
    first = _draws(p)[0]
    assert "Change" in first["title"]
    in_london = (_atlas().table["region"] == "London").tolist()
    assert [z != FADED_SLOT for z in first["z"]] == in_london


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_shared_link_map_is_framed_for_the_screen_from_its_first_draw(open_recorded, viewport) -> None:  # noqa: ANN001
    """The fit for the browser's size frames the first draw: no draw at the server's guess, then a jump."""
    p = open_recorded("?year=2016&region=London", viewport)
    fit = float(p.js("() => document.getElementById('map-frame').dataset.fitZoom"))
    assert fit > 7, f"London's frame is far closer than England's (about 5); the fit gave {fit}"
    draws = _draws(p)
    drawn = p.js("""() => { const geo = document.querySelector('#ccg-map .js-plotly-plot').layout.geo;
        return JSON.stringify([geo.lonaxis.range, geo.lataxis.range]); }""")
    assert [d["frame"] for d in draws] == [drawn] * len(draws), \
        f"the map was drawn at frames {[d['frame'] for d in draws]}, not only at the fit's {drawn}"


def test_default_page_draws_england_and_its_first_callbacks_send_no_map(open_recorded) -> None:  # noqa: ANN001
    p = open_recorded("")
    draws = _draws(p)
    assert draws[0]["z"] == _codes(2016)  # nothing faded
    # The first callbacks find the map already showing the view: the map callback patches nothing.
    map_answers = [json.loads(body) for post, body in p.answers if '"ccg-map.figure' in post.split('"inputs"')[0]]
    for answer in map_answers:
        figure = answer.get("response", {}).get("ccg-map", {}).get("figure")
        ops = (figure or {}).get("operations", []) if isinstance(figure, dict) else []
        assert not ops, f"the first map callback re-sent parts of the map: {str(ops)[:300]}"


IDLE = "() => window.__inflight === 0 && !document.querySelector('[data-dash-is-loading]')"


def _change_bytes(p: Page, act, selector: str, text: str) -> dict[str, int]:  # noqa: ANN001
    """Gzip-compressed sizes of every callback answer the change caused: from the action until the change shows
    in a panel the last wave of callbacks writes and no callback is in flight."""
    p.page.wait_for_function(IDLE, timeout=30000)
    p.answers.clear()
    act()
    p.wait_text(selector, text)
    p.page.wait_for_function(IDLE, timeout=30000)
    return {json.loads(post or "{}").get("output", "?"): len(gzip.compress(body, 6)) for post, body in p.answers}


def test_england_year_change_and_area_team_change_send_at_most_10_kb(open_recorded) -> None:  # noqa: ANN001
    p = open_recorded("")
    year = _change_bytes(p, lambda: p.page.get_by_label("2015/16").check(), "#level-summary", "2015/16")
    assert len(year) >= 5, f"the year change did not reach the panels: {year}"
    tables = {k: v for k, v in year.items() if "ccg-table" in k}
    assert tables and sum(tables.values()) <= 1024, f"the table's callback re-sent rows: {tables}"
    year_total = sum(year.values())

    def pick_team() -> None:
        p.page.click("#area-team")
        p.page.keyboard.type("Greater Manch")
        p.page.keyboard.press("Enter")

    n = int((_atlas().table["area_team"] == "Greater Manchester").sum())
    team = _change_bytes(p, pick_team, "#table-caption", f"Showing the {n} CCGs in the filter.")
    assert len(team) >= 5, f"the area-team change did not reach the panels: {team}"
    assert sum(team.values()) <= 10 * 1024, f"the area-team change sent {sum(team.values())} bytes compressed: {team}"
    p.page.locator("#ccg-table").scroll_into_view_if_needed()
    p.page.wait_for_function("(n) => document.getElementById('ccg-table')?.dataset.shown === String(n)", arg=n)
    rows = p.js("() => document.querySelectorAll('#ccg-table .ag-center-cols-container .ag-row').length")
    assert rows == n
    assert year_total <= 10 * 1024, f"the England year change sent {year_total} bytes compressed: {year}"
