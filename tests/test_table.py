"""The CCG table: levels in words with their codes beside, sources as links, CCG and levels first, filtered in the
browser by the codes the callback sends, reachable by keyboard; and the layout kept per shared view."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest
from dash import Dash, html
from test_browser import Page, _atlas, browser, open_page  # noqa: F401

import app as app_module
from dashboard import figures, ids
from dashboard.hosting import dash_internals, plotly_bundle
from dashboard.page import layout, table
from dashboard.service import AtlasService
from dashboard.state import ViewState
from geodata.vocabulary import LEVEL_LABEL

APP = app_module.app
SERVER = app_module.server
SERVICE: AtlasService = SERVER.extensions["atlas_service"]


def test_rows_carry_levels_in_words_beside_their_codes() -> None:
    rows = table.rows(SERVICE)
    assert len(rows) == 209
    for row in rows:
        for year in (2015, 2016):
            assert row[f"level_{year}_words"] == LEVEL_LABEL[row[f"level_{year}"]]
    assert any(r["level_2015_words"] == "Not delegated, level not stated" for r in rows) or \
        all(r["level_2015"] != "not_delegated" for r in rows)


def test_ccg_and_its_levels_come_first_and_the_codes_stay_for_scripts() -> None:
    defs = table.column_defs()
    assert [d["headerName"] for d in defs[:3]] == ["CCG", "Level 2015/16", "Level 2016/17"]
    names = [d["headerName"] for d in defs]
    assert "level_2015" in names and "level_2016" in names  # the codes, named as in geodata export-csv
    sources = [d for d in defs if d["field"].startswith("source_")]
    assert sources and all(d["cellRenderer"] == "SourceLinks" for d in sources)


def test_shown_codes_follow_filter_and_selection() -> None:
    gm = ViewState(area_teams=("Greater Manchester",))
    codes = table.shown_codes(SERVICE.view(gm))
    assert set(codes) == set(SERVICE.table.index[SERVICE.table["area_team"] == "Greater Manchester"])
    picked = tuple(SERVICE.table.index[:2])
    assert table.shown_codes(SERVICE.view(ViewState(ccgs=picked))) == list(picked)


def test_an_evidence_change_sends_only_the_rows_it_changes() -> None:
    changed = table.changed_rows(SERVICE, "any", "operating")
    assert 0 < len(changed) < 209
    operating = {r["ccg_code"]: r for r in table.rows(SERVICE, "operating")}
    assert all(r == operating[r["ccg_code"]] for r in changed)


# -- the layout: one per shared view, kept, validated by ETag ------------------------------------------------------


def test_layout_is_the_links_view_and_kept_per_view() -> None:
    client = SERVER.test_client()
    link = "http://localhost/?year=2015&area_team=Greater%20Manchester"
    first = client.get("/_dash-layout", headers={"Referer": link})
    england = client.get("/_dash-layout")
    assert first.status_code == england.status_code == 200
    assert first.headers["ETag"] != england.headers["ETag"]
    tree = json.loads(first.get_data())
    assert json.dumps(tree).count('"Greater Manchester"') >= 1
    cache = SERVICE.cache("layout")
    hits = cache.hits
    code = next(c for c, name in SERVICE.vocabulary.team_by_code.items() if name == "Greater Manchester")
    # The same view by another spelling (the team's code, in the layout request's own query): the kept answer.
    same = client.get(f"/_dash-layout?area_team={code}&year=2015", headers={"If-None-Match": first.headers["ETag"]})
    assert same.status_code == 304 and cache.hits == hits + 1
    # A value the page drops makes no layout of its own: it is the view's kept one (England here), and the page's
    # first callback shows the notice (tests/test_browser.py checks the notice in the page).
    bad = client.get("/_dash-layout?year=2099")
    assert bad.status_code == 200 and bad.headers["ETag"] == england.headers["ETag"]


def test_first_stores_match_the_first_view() -> None:
    state = ViewState(year=2015, regions=("London",))
    page = layout.page(SERVICE, state)
    assert page["view-state"].data["regions"] == ["London"]
    assert page["map-applied"].data["colour"] == [2015, "level", "any"]
    assert page[ids.TABLE_SHOWN].data["codes"] == table.shown_codes(SERVICE.view(state))
    assert page["year"].value == 2015 and page["region"].value == ["London"]


def test_page_config_carries_no_copy_of_the_page() -> None:
    html_text = SERVER.test_client().get("/").get_data(as_text=True)
    assert len(html_text) < 100_000, "the validation layout in the page config holds data (the map geometry?)"


# -- plotly.js partial bundle and the grid library on demand --------------------------------------------------------


def test_plotly_partial_bundle_is_served_for_a_year_and_has_every_trace_the_page_draws() -> None:
    if not plotly_bundle.BUNDLE.exists():
        pytest.skip("no partial bundle built (make js)")
    page = SERVER.test_client().get("/").get_data(as_text=True)
    url = next(u for u in APP.config.external_scripts if "plotly-atlas" in u)
    assert f'src="{url}"' in page
    resp = SERVER.test_client().get(url, headers={"Accept-Encoding": "gzip"})
    assert resp.status_code == 200 and "immutable" in resp.headers["Cache-Control"]
    assert len(gzip.decompress(resp.get_data())) == plotly_bundle.BUNDLE.stat().st_size
    view = SERVICE.view(ViewState())
    types = {t.type for t in figures.map_figure(view).data}
    types |= {t["type"] for t in figures.team_share_figure(view)["data"]}
    types |= {t["type"] for t in figures.imd_by_level_figure(view, tuple(SERVICE.table.index[:1]))["data"]}
    assert types <= set(plotly_bundle.TRACES), f"traces the partial bundle lacks: {types - set(plotly_bundle.TRACES)}"


def test_without_the_bundle_the_page_loads_dashs_full_plotly(caplog: pytest.LogCaptureFixture) -> None:
    app = Dash(__name__, serve_locally=True)
    app.layout = html.Div()
    with caplog.at_level(logging.WARNING):
        assert plotly_bundle.install(app, Path("/nonexistent/plotly.js")) is None
    assert "full plotly.js" in caplog.text and not app.config.external_scripts


def test_dash_internal_graphs_use_window_plotly_and_keep_a_full_fallback() -> None:
    """Dash internals the bundle relies on: dcc's graphs take ``window.Plotly`` when a script defined it, else
    load the plotly.min.js named in ``dcc._js_dist`` (namespace ``plotly``)."""
    import dash.dcc

    entry = dash_internals.full_plotly_entry()
    assert entry and entry["relative_package_path"].endswith("plotly.min.js"), \
        "Dash internal moved: dcc._js_dist has no plotly entry; update dashboard/hosting/dash_internals.py"
    source = Path(dash.dcc.__file__).with_name("dash_core_components.js").read_text()
    assert "window.Plotly||" in source, "Dash internal moved: dcc graphs no longer take window.Plotly"


def test_dash_internal_grid_script_is_served_but_not_in_the_page() -> None:
    """Dash internal: a ``_js_dist`` entry marked ``dynamic`` is served but left out of the page's scripts."""
    client = SERVER.test_client()
    page = client.get("/").get_data(as_text=True)
    assert "dash_ag_grid.v" not in page and "dash_ag_grid.min.js" not in page, \
        "Dash internal moved: the grid library is in the page (dash_internals.load_on_demand)"
    assert client.get("/_dash-component-suites/dash_ag_grid/dash_ag_grid.min.js").status_code == 200


# -- in the browser -----------------------------------------------------------------------------------------------


def _grid(p: Page) -> None:
    p.page.locator("#ccg-table").scroll_into_view_if_needed()
    p.page.wait_for_function("() => document.querySelectorAll('#ccg-table .ag-row').length > 0", timeout=30000)
    p.page.wait_for_function("() => Number(document.getElementById('ccg-table')?.dataset.shown) > 0",
                             timeout=30000)


@pytest.mark.browser
def test_phone_table_starts_with_ccg_and_levels_in_words_and_sources_link(open_page) -> None:  # noqa: ANN001, F811
    p = open_page("?year=2016&region=London", viewport={"width": 390, "height": 844})
    _grid(p)
    headers = p.js("() => Array.from(document.querySelectorAll('#ccg-table .ag-header-cell'))"
                   ".map(h => h.innerText.trim()).filter(Boolean)")
    assert headers[:3] == ["CCG", "Level 2015/16", "Level 2016/17"], headers
    words = p.js("() => Array.from(document.querySelectorAll('#ccg-table [col-id=level_2016_words]'))"
                 ".slice(1).map(c => c.innerText.trim())")
    assert words and set(words) <= set(LEVEL_LABEL.values()), words
    p.page.wait_for_function("() => { const c = document.querySelector('#ccg-table [col-id=level_2016_words]');"
                             " const r = c && c.getBoundingClientRect(); return !!r && r.right <= 390; }")
    p.page.screenshot(path="/tmp/h-firstview/table-phone.png")
    box = p.page.locator("#ccg-table [col-id=level_2016_words]").nth(1).bounding_box()
    assert box and box["x"] + box["width"] <= 390, "the 2016/17 level is not on a phone's screen"
    p.page.wait_for_function("() => document.querySelectorAll('#ccg-table [col-id^=source_] a').length > 0")
    links = p.js("() => Array.from(document.querySelectorAll('#ccg-table [col-id^=source_] a'))"
                 ".map(a => a.getAttribute('href'))")
    assert links and all(h.startswith(("https://", "http://")) for h in links), links[:5]


@pytest.mark.browser
def test_table_filters_in_the_browser_and_csv_has_words_and_codes(open_page) -> None:  # noqa: ANN001, F811
    p = open_page("?year=2015&region=London")
    _grid(p)
    n = int((_atlas().table["region"] == "London").sum())
    assert p.js("() => document.getElementById('ccg-table')?.dataset.shown") == str(n)
    with p.page.expect_download(timeout=30000) as info:
        p.page.click("#table-csv")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == n + 1
    header = lines[0].lstrip("\ufeff").split(",")  # the byte-order mark tells spreadsheets it is UTF-8
    assert {"level_2015", "level_2015_words", "level_2015_status", "claim_2015", "inferred_2015",
            "source_2015_1_title", "source_2015_1_url", "area_team_code"} <= set(header), header
    assert any(word in text for word in ("Delegated (level 3)", "Unknown: no source found"))


@pytest.mark.browser
def test_page_downloads_the_views_data_zip_with_its_descriptor(open_page) -> None:  # noqa: ANN001, F811
    import zipfile

    p = open_page("?year=2016&region=London&evidence=operating")
    p.wait_text("#table-caption", "Showing the 32 CCGs in the filter.")
    with p.page.expect_download(timeout=30000) as info:
        p.page.click("#table-zip")
    assert info.value.suggested_filename == "ccg-cocommissioning-data-2016-london-operating-only.zip"
    with zipfile.ZipFile(info.value.path()) as z:
        desc = json.loads(z.read("datapackage.json"))
        rows = z.read(desc["resources"][0]["path"]).decode("utf-8").splitlines()
    assert desc["view"]["evidence"] == "operating" and len(rows) == 33
    # After a change of view the link follows it.
    p.page.click("#year input[value='2015']")
    p.page.wait_for_function("() => document.getElementById('table-zip').getAttribute('href').includes('year=2015')")


@pytest.mark.browser
def test_table_scroll_region_is_keyboard_reachable(open_page) -> None:  # noqa: ANN001, F811
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    p = open_page("?region=London")
    _grid(p)
    result = axe.Axe().run(p.page, context="#ccg-table",
                           options={"runOnly": {"type": "rule", "values": ["scrollable-region-focusable"]}})
    assert result.violations_count == 0, result.generate_report()
    p.page.locator("#ccg-table .ag-body-viewport").focus()
    assert p.js("() => document.activeElement.closest('#ccg-table') !== null")
