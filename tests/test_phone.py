"""The page on a phone (390x844, touch) and the map's zoom buttons, in a real Chromium."""

from __future__ import annotations

import pytest
import test_browser
from test_a11y import LAPTOP, PHONE, Device
from test_browser import MAP_VIEW, Page, _atlas, _screen_xy, pytestmark  # noqa: F401  (the page tests' helpers)

from dashboard.page.page_signals import STATISTICS_SHOWN

browser = test_browser.browser  # the page tests' fixture: a fresh Chromium per test (tests ask for it by name)

LONDON = (-0.52, 51.28, 0.34, 51.70)  # west, south, east, north: Greater London with a little margin


def phone_page(request: pytest.FixtureRequest, url: str) -> Page:
    chromium = request.getfixturevalue("browser")
    return Page(Device(chromium, is_mobile=True, has_touch=True, device_scale_factor=2), url, PHONE)


def loaded(p: Page) -> None:
    """Wait until the panels above the statistics have arrived and the map is idle: nothing reframes it after that
    (on a phone the statistics start folded, and are worked out only when opened)."""
    p.panels()
    p.settle()
    p.wait_drawn()


def still(p: Page) -> None:
    """Wait until the page has not scrolled for ten frames in a row (a touch scroll glides on after the finger)."""
    # A synchronous predicate polled once a frame (a Promise would be taken as the answer at once; see
    # test_browser.Page._wait_idle).
    p.js("() => { window.__stillY = window.scrollY; window.__stillFrames = 0; }")
    p.page.wait_for_function("""() => {
        window.__stillFrames = window.scrollY === window.__stillY ? window.__stillFrames + 1 : 0;
        window.__stillY = window.scrollY;
        return window.__stillFrames >= 10; }""", timeout=15000, polling="raf")


def map_view(p: Page) -> dict:
    return p.js(f"() => {MAP_VIEW}")


def test_shared_link_shows_its_map_first_on_a_phone(request: pytest.FixtureRequest, live_server: str) -> None:
    p = phone_page(request, live_server + "/?year=2015&region=London")
    p.wait_text("#level-summary", "32 CCGs in the filter")
    assert p.js("() => document.getElementById('filters').open") is False, "the filters should start folded"
    box = p.page.locator("#ccg-map").bounding_box()
    assert box["y"] + 250 < PHONE["height"], f"the map starts at {box['y']:.0f} px, below the first screen"
    assert p.js("() => document.documentElement.scrollWidth - window.innerWidth") <= 1
    p.page.locator("#filters > summary").tap()
    p.page.wait_for_function("() => document.getElementById('filters').open")
    p.page.locator("#region").wait_for(state="visible", timeout=10000)
    p.close()


def test_filters_start_open_on_a_laptop(request: pytest.FixtureRequest, live_server: str) -> None:
    p = Page(request.getfixturevalue("browser"), live_server + "/", LAPTOP)
    assert p.js("() => document.getElementById('filters').open") is True
    p.page.locator("#region").wait_for(state="visible", timeout=10000)
    p.close()


def _touch(cdp, kind: str, points: list[tuple[float, float]], page=None) -> None:  # noqa: ANN001
    """One touch event; with ``page``, then one animation frame, as a finger moves (one step per frame): a gesture
    is read from successive frames, and a burst of moves in one frame is not a pinch on a busy machine."""
    cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [
        {"x": x, "y": y, "id": i, "radiusX": 4, "radiusY": 4, "force": 1} for i, (x, y) in enumerate(points)]})
    if page is not None:
        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => done()))")


def _phone_map_at_top(request: pytest.FixtureRequest, live_server: str) -> Page:
    """The phone page, loaded, scrolled so that the map's top is 40 px below the screen's."""
    p = phone_page(request, live_server + "/?year=2016")
    loaded(p)
    p.js("() => window.scrollTo(0, document.getElementById('ccg-map').getBoundingClientRect().top - 40)")
    p.page.wait_for_function("() => Math.abs(document.getElementById('ccg-map').getBoundingClientRect().top - 40) < 2")
    return p


def test_one_finger_scrolls_the_page_two_move_the_map_and_buttons_zoom_it(request: pytest.FixtureRequest,
                                                                  live_server: str) -> None:
    p = _phone_map_at_top(request, live_server)
    top = p.js("() => window.scrollY")
    # A point of the map's drawing area clear of the legend (on a phone the fit puts it in a band underneath): a
    # quarter across and 120 px down. A touch near the legend is the legend's (touch adjustment picks its nearest
    # toggle).
    box = p.page.locator("#ccg-map").bounding_box()
    x, y = box["x"] + box["width"] / 4, box["y"] + 120
    assert p.js(f"() => !!document.elementFromPoint({x}, {y}).closest('#ccg-map .js-plotly-plot')")
    p.js("""() => { window.touchLog = []; ['touchstart', 'touchmove'].forEach((t) => document.addEventListener(t,
        (e) => window.touchLog.push(t + ' ' + e.touches.length + ' ' + e.target.nodeName + ' in #'
                                    + ((e.target.closest && e.target.closest('[id]')) || {}).id),
        {capture: true, passive: true})); }""")  # what the page saw, for the failure message
    before = map_view(p)
    cdp = p.ctx.new_cdp_session(p.page)
    _touch(cdp, "touchStart", [(x, y)])
    for i in range(1, 13):
        _touch(cdp, "touchMove", [(x, y - 25 * i)], p.page)
    _touch(cdp, "touchEnd", [])
    p.page.wait_for_function("(top) => window.scrollY > top + 100", arg=top, timeout=10000)
    hints = p.js("() => Number(document.getElementById('ccg-map').dataset.gestureHint || 0)")
    assert hints >= 1, f"no hint after a one-finger swipe on the map; touches: {p.js('() => window.touchLog')}"
    # (Whether it is still on screen now depends on how long the scroll took: it hides 1.6 s after it shows.)
    assert "two fingers" in p.page.inner_text("#map-gesture-hint")
    after = map_view(p)
    assert abs(after["zoom"] - before["zoom"]) < 0.01 and abs(after["lat"] - before["lat"]) < 0.01, \
        f"one finger moved the map: {before} -> {after}"

    # Two fingers move the map (and do not scroll the page).
    still(p)  # the swipe's fling has ended
    p.js(f"() => window.scrollTo(0, {top})")
    p.page.wait_for_function(f"() => Math.abs(window.scrollY - {top}) < 2")
    still(p)
    x, y = _screen_xy(p, "E38000206")
    scrolled = p.js("() => window.scrollY")
    _touch(cdp, "touchStart", [(x - 20, y), (x + 20, y)])
    for i in range(1, 13):
        _touch(cdp, "touchMove", [(x - 20 + 6 * i, y + 4 * i), (x + 20 + 6 * i, y + 4 * i)], p.page)
    _touch(cdp, "touchEnd", [])
    p.page.wait_for_function(f"(lon) => {MAP_VIEW}.lon < lon - 0.3", arg=before["lon"], timeout=20000)
    # The page stays put (a one-finger swipe as long moves it 250+ px); under load the suite saw it settle by up to
    # 18 px during a two-finger gesture, never in a lone run, so only a real scroll fails here.
    assert abs(p.js("() => window.scrollY") - scrolled) < 40
    p.errors[:] = [e for e in p.errors if not e.startswith("Ignored attempt to cancel a touchmove event")]
    # Pinching does not zoom this map (plotly's geo map pans under two fingers): the + and - buttons do, and the
    # page says so to a touch screen's visitor.
    assert "+ and −" in p.page.inner_text(".map-column .touch-only")
    zoom = map_view(p)["zoom"]
    p.page.locator("#zoom-in").tap()
    p.page.wait_for_function(f"(z) => {MAP_VIEW}.zoom > z + 0.5", arg=zoom, timeout=20000)
    p.page.locator("#zoom-out").tap()
    p.page.wait_for_function(f"(z) => Math.abs({MAP_VIEW}.zoom - z) < 0.01", arg=zoom, timeout=20000)
    p.close()


def test_a_tapped_ccg_shows_its_details_inside_the_phone_screen(request: pytest.FixtureRequest,
                                                                live_server: str) -> None:
    p = _phone_map_at_top(request, live_server)
    below = p.js("() => document.getElementById('ccg-details').getBoundingClientRect().top")
    assert below > PHONE["height"] - 100, f"the details panel starts at {below:.0f} px: on screen, nothing to test"
    scrolled = p.js("() => window.scrollY")
    # One finger, no movement: a tap still selects (gestures.js lets it click). Like the page tests' clicks, a tap
    # that Plotly never reported (data-clicks, counted by mapfit.js) was dropped by the browser and is tried again;
    # one Plotly reported is never repeated (a second would unselect).
    for attempt in range(3):
        p.wait_drawn()
        x, y = _screen_xy(p, "E38000206")  # Wiltshire
        before = p.js("() => Number(document.getElementById('ccg-map').dataset.clicks || 0)")
        p.page.touchscreen.tap(x, y)
        try:
            p.page.wait_for_function("(n) => Number(document.getElementById('ccg-map').dataset.clicks || 0) > n",
                                     arg=before, timeout=5000)
            break
        except Exception:
            if attempt == 2:
                raise
    try:
        p.page.wait_for_function("() => location.search.includes('ccg=E38000206')", timeout=20000)
    except Exception as exc:
        seen = p.js("() => [document.getElementById('ccg-map').dataset.lastClick, location.search]")
        raise AssertionError(f"the tap on Wiltshire did not select it: Plotly reported {seen[0]!r}, "
                             f"the URL is {seen[1]!r}") from exc
    p.wait_text("#ccg-details", "NHS Wiltshire CCG")
    box = p.page.locator("#ccg-details").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert p.js("() => document.documentElement.scrollWidth - window.innerWidth") <= 1
    # The tapped CCG's details are scrolled into view (assets/phone.js; data-scrolled counts its scrolls).
    p.page.wait_for_function("() => Number(document.getElementById('ccg-details').dataset.scrolled || 0) >= 1",
                             timeout=15000)
    still(p)
    card = p.js("""() => { const r = document.querySelector('#ccg-details .ccg-card[data-ccg="E38000206"]')
        .getBoundingClientRect(); return {top: r.top, bottom: r.bottom}; }""")
    assert 0 <= card["top"] < PHONE["height"] - 200, f"Wiltshire's card starts at {card['top']:.0f} px, off the screen"
    assert p.js("() => window.scrollY") > scrolled + 100, "the page did not scroll to the details"
    p.close()


def test_statistics_fold_on_a_phone_behind_a_plain_summary(request: pytest.FixtureRequest, live_server: str) -> None:
    """The statistics (clustering, robustness, published totals) start folded on a phone behind a summary saying
    in plain words what is inside; unfolded, the robustness table scrolls sideways inside its own frame, which the
    keyboard can reach and a screen reader names, and the page itself never scrolls sideways."""
    p = phone_page(request, live_server + "/?year=2016&region=London")
    loaded(p)
    assert p.js("() => document.getElementById('statistics').open") is False, "the statistics should start folded"
    assert not p.js("() => document.getElementById('statistics').dataset.asked"), "folded statistics were worked out"
    summary = p.page.inner_text("#statistics > summary")
    for words in ("neighbouring CCGs", "deprivation", "published national totals"):
        assert words in summary, summary
    assert "p =" not in summary and "_" not in summary, summary
    folded = p.js("() => document.documentElement.scrollHeight")
    p.page.locator("#statistics > summary").tap()
    p.page.wait_for_function("() => document.getElementById('statistics').open")
    # Opened where the reader is: worked out now, for the page's view (they were not while folded).
    p.page.wait_for_function(STATISTICS_SHOWN, timeout=60000)
    p.page.locator("#clustering-robust table").wait_for(state="visible", timeout=10000)
    opened = p.js("() => document.documentElement.scrollHeight")
    assert opened > folded + 2000, f"folding saved only {opened - folded} px"
    frame = p.js("""() => { const t = document.querySelector('#clustering-robust table');
        const f = t.closest('.table-scroll'); const col = f.parentElement.getBoundingClientRect();
        return {frame: f.clientWidth, scroll: f.scrollWidth, table: t.getBoundingClientRect().width,
                right: f.getBoundingClientRect().right, tab: f.tabIndex, label: f.getAttribute('aria-label'),
                role: f.getAttribute('role'), overflow: getComputedStyle(f).overflowX}; }""")
    assert frame["table"] > frame["frame"] and frame["scroll"] > frame["frame"], frame
    assert frame["right"] <= PHONE["width"] and frame["overflow"] == "auto", frame
    assert frame["tab"] == 0 and frame["label"] and frame["role"] == "region", frame
    p.js("() => { const f = document.querySelector('#clustering-robust .table-scroll'); f.scrollLeft = 200; }")
    assert p.js("() => document.querySelector('#clustering-robust .table-scroll').scrollLeft") > 0
    assert p.js("() => document.documentElement.scrollWidth - window.innerWidth") <= 1
    # The published totals: in the same fold, beside the robustness panel, in their own scrolling frame too.
    order = p.js("""() => ['clustering-robust', 'total-bounds', 'reconciliation'].map(id =>
        Math.round(document.getElementById(id).getBoundingClientRect().top))""")
    assert order == sorted(order), order
    assert p.js("() => document.querySelector('#reconciliation .scroll-frame').tabIndex") == 0
    p.close()


def _js_inside(v: str, bounds: tuple[float, float, float, float]) -> str:
    west, south, east, north = bounds
    return f"{v}.lon >= {west} && {v}.lon <= {east} && {v}.lat >= {south} && {v}.lat <= {north}"


def wait_view(p: Page, name: str, condition: str) -> None:
    """Wait until the map, idle, shows the view (``v``: centre and zoom) that the button ``name`` asked for."""
    try:
        p.page.wait_for_function(f"""() => {{
            const g = document.getElementById('ccg-map'), frame = document.getElementById('map-frame');
            const gd = g.querySelector('.js-plotly-plot');
            const fitted = gd._fullLayout.uirevision === frame.dataset.fitRevision;
            if (g.dataset.zoomedTo !== '{name}' || !fitted) return false;
            const v = {MAP_VIEW};
            return {condition}; }}""", timeout=20000, polling=200)
    except Exception as exc:
        raise AssertionError(f"the map never showed {name}: it shows {map_view(p)}") from exc


def _inside(view: dict[str, float], bounds: tuple[float, float, float, float]) -> bool:
    west, south, east, north = bounds
    return west <= view["lon"] <= east and south <= view["lat"] <= north


@pytest.mark.parametrize("phone", [False, True], ids=["laptop", "phone"])
def test_london_button_zooms_to_london_and_england_returns(request: pytest.FixtureRequest, live_server: str,
                                                            phone: bool) -> None:
    p = phone_page(request, live_server + "/") if phone else Page(request.getfixturevalue("browser"),
                                                                    live_server + "/", LAPTOP)
    loaded(p)
    england = map_view(p)
    assert not _inside(england, LONDON)
    p.page.click("#zoom-london")
    wait_view(p, "london", f"v.zoom > {england['zoom'] + 1} && {_js_inside('v', LONDON)}")
    london = map_view(p)
    # London's CCGs are in the frame: the point inside each CCG lies within the map's visible bounds.
    shown = map_view(p)["bounds"]
    t = _atlas().table
    london_points = t.loc[t["region"] == "London", ["lon", "lat"]].to_numpy()
    assert len(london_points) == 32
    outside = [(lon, lat) for lon, lat in london_points
               if not (shown[0] <= lon <= shown[2] and shown[1] <= lat <= shown[3])]
    assert not outside, f"London CCGs outside the frame {shown}: {outside}"
    p.page.click("#zoom-england")
    wait_view(p, "england", f"v.zoom < {london['zoom'] - 1} && !({_js_inside('v', LONDON)})")
    # England is back in view: the point inside every CCG lies within the frame.
    shown = map_view(p)["bounds"]
    outside = [(lon, lat) for lon, lat in t[["lon", "lat"]].to_numpy()
               if not (shown[0] <= lon <= shown[2] and shown[1] <= lat <= shown[3])]
    assert not outside, f"{len(outside)} CCGs outside the frame {shown} after England"
    p.close()

