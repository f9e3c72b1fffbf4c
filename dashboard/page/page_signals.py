"""What the page tells a script that drives it (the browser tests, docs/screenshots.py): JavaScript predicates,
kept here once so that every driver waits for the same thing.

The page gives the signal: ``assets/mapfit.js`` records on ``#map-frame`` the zoom its fit applied
(``data-fit-zoom``). A predicate is synchronous, for Playwright's ``wait_for_function(..., polling="raf")``:
Playwright takes a returned Promise as a truthy answer at once, so a predicate that resolves a Promise to false
never waits.
"""

from __future__ import annotations

#: Reset before each wait (``page.evaluate(RESET_MAP_IDLE)``): the predicate counts frames from there.
RESET_MAP_IDLE = "() => { window.__atlasIdleFrames = 0; }"

#: True once MapLibre has been idle at the fit's zoom (loaded, not moving, tiles drawn) on three frames in a row.
MAP_IDLE_AT_FIT = """() => {
    const g = document.querySelector('#ccg-map .js-plotly-plot');
    const m = g && g._fullLayout && g._fullLayout.map && g._fullLayout.map._subplot && g._fullLayout.map._subplot.map;
    const fit = Number(document.getElementById('map-frame').dataset.fitZoom);
    const idle = !!m && Number.isFinite(fit) && Math.abs(m.getZoom() - fit) < 0.01 && m.loaded()
                 && !m.isMoving() && m.areTilesLoaded();
    window.__atlasIdleFrames = idle ? (window.__atlasIdleFrames || 0) + 1 : 0;
    return window.__atlasIdleFrames >= 3;
}"""
