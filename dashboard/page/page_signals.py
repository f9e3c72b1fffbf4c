"""What the page tells a script that drives it (the browser tests, docs/screenshots.py): JavaScript predicates,
kept here once so that every driver waits for the same thing.

The page gives the signals: ``assets/mapfit.js`` records on ``#map-frame`` the zoom its fit applied
(``data-fit-zoom``); ``#statistics`` says whether the page's view waits for the reader (``data-pending``) and
counts the views passed on to its panels (``data-asked``, ``assets/stats.js``), and the clustering and robustness
panels the one they answered (``data-done``). A predicate is synchronous, for Playwright's
``wait_for_function(..., polling="raf")``: Playwright takes a returned Promise as a truthy answer at once, so a
predicate that resolves a Promise to false never waits.
"""

from __future__ import annotations

#: Reset before each wait (``page.evaluate(RESET_MAP_IDLE)``): the predicate counts frames from there.
RESET_MAP_IDLE = "() => { window.__atlasIdleFrames = 0; window.__atlasIdleStamp = null; }"

#: True once the map is drawn at the fit's frame (the figure plotly drew carries the fit's uirevision, its CCG paths
#: are in the page) and the graph has not redrawn for three frames in a row.
MAP_IDLE_AT_FIT = """() => {
    const g = document.querySelector('#ccg-map .js-plotly-plot');
    const frame = document.getElementById('map-frame'), rev = frame && frame.dataset.fitRevision;
    const drawn = !!g && !!g._fullLayout && !!rev && g._fullLayout.uirevision === rev
                  && g.querySelectorAll('.choroplethlocation').length > 0;
    const stamp = drawn ? rev + ':' + document.getElementById('ccg-map').dataset.mapDraws : null;
    const same = drawn && stamp === window.__atlasIdleStamp;
    window.__atlasIdleStamp = stamp;
    window.__atlasIdleFrames = same ? (window.__atlasIdleFrames || 0) + 1 : (drawn ? 1 : 0);
    return window.__atlasIdleFrames >= 3;
}"""

#: True once the panels above the statistics have arrived (counts, the three charts drawn): the page has its length.
PANELS_ARRIVED = """() => ['#team-chart', '#imd-chart', '#size-chart'].every(
        s => document.querySelector(s + ' .js-plotly-plot .main-svg'))
    && !!document.querySelector('#level-summary table')"""

#: True once the statistics (clustering and robustness panels) show the view the page passed on to them last. They
#: are worked out only when open and near the screen: scroll to them first (``#statistics``).
STATISTICS_SHOWN = """() => {
    const d = document.getElementById('statistics'), r = document.getElementById('clustering-robust');
    const shown = (e) => !!e && e.checkVisibility({visibilityProperty: true});  // dcc.Loading hides while loading
    return !!d && !!r && !d.dataset.pending && !!d.dataset.asked && d.dataset.asked === d.dataset.done
        && r.dataset.done === d.dataset.asked
        && shown(document.querySelector('#clustering-robust table, #clustering-robust p'))
        && shown(document.querySelector('#clustering p'));
}"""
