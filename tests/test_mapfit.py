"""The map's fit (assets/mapfit.js) never frames the map back to an older view.

A fit can wait: the map's frame may be hidden when bounds arrive. A newer fit asked for meanwhile (a filter
change, a zoom button) must win, or the map jumps back to the old frame under a visitor's finger, or under a
test's click.
"""

from __future__ import annotations

import pytest
from test_browser import browser, open_page  # noqa: F401

pytestmark = [pytest.mark.browser]

# England, then Greater Manchester (west, south, east, north).
ENGLAND = [-6.4, 49.9, 1.8, 55.8]
MANCHESTER = [-2.73, 53.33, -1.91, 53.69]


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
        const centre = (patch) => (patch.operations || []).find((op) => op.location.join('.') === 'layout.map.center');
        return {olderDropped: a === noUpdate, newerApplied: b !== noUpdate && !!centre(b),
                centreLon: b !== noUpdate && centre(b) ? centre(b).params.value.lon : null};
    }""", [ENGLAND, MANCHESTER])
    assert out["olderDropped"] and out["newerApplied"], out
    assert out["centreLon"] == pytest.approx((MANCHESTER[0] + MANCHESTER[2]) / 2)


def test_a_fit_that_need_not_wait_is_applied(open_page) -> None:  # noqa: ANN001, F811
    p = open_page()
    out = p.page.evaluate("""(b) => {
        const patch = window.dash_clientside.atlas.fitMap(b);
        const op = (patch.operations || []).find((o) => o.location.join('.') === 'layout.map.zoom');
        return op ? op.params.value : null; }""", MANCHESTER)
    assert out is not None and out > 7  # a city-region's frame, far closer than England's (about 5)
