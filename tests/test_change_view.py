"""The change view on the real atlas: its charts and panels describe 2015/16 -> 2016/17, not one year, and the
charts fit a phone (no label cut, no ticks on top of each other, no title under the toolbar)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_browser import CHROMIUM, browser, open_page  # noqa: F401  (the browser tests' fixtures, shared)

from dashboard import change, figures, summaries
from dashboard.page.clustering_view import clustering_panel
from dashboard.page.robust_view import robust_section
from dashboard.service import transition
from dashboard.state import ViewState
from geodata.vocabulary import CHANGE_LABEL, CHANGE_ORDER, LEVEL_ORDER

SPAN = "2015/16 → 2016/17"
CHANGE = ViewState(view="change")


def texts(component: object) -> str:
    """Every string of a panel's components, as one text."""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(texts(c) for c in component)
    children = getattr(component, "children", None)
    return "" if children is None else texts(children)


def plain(label: str) -> str:
    """A chart label without its markup: what the reader sees, on one line."""
    return " ".join(re.sub(r"<[^>]+>", " ", label).split())


def groups(atlas):  # noqa: ANN001, ANN201
    t = atlas.table
    l15, l16 = t["level_2015"], t["level_2016"]
    known = (l15 != "unknown") & (l16 != "unknown")
    return {"new": known & (l15 != "delegated") & (l16 == "delegated"),
            "stayed": known & (l15 != "delegated") & (l16 != "delegated"),
            "kept": known & (l15 == "delegated") & (l16 == "delegated"), "unknown": ~known}


def test_team_chart_in_the_change_view_counts_each_team_by_change(service) -> None:  # noqa: ANN001
    fig = figures.team_share_figure(service.view(CHANGE))
    assert [trace["name"] for trace in fig["data"]] == [CHANGE_LABEL[c] for c in CHANGE_ORDER]
    assert SPAN in fig["layout"]["title"]["text"] and "2016/17" in CHANGE_LABEL["unknown"]
    teams = fig["data"][0]["y"]
    assert len(teams) == 25
    for i, team in enumerate(teams):  # every bar adds up to the team's transition table
        grid = summaries.transition_counts(service.view(ViewState(view="change", area_teams=(team,))))
        expected = dict.fromkeys(CHANGE_ORDER, 0)
        for a in LEVEL_ORDER:
            for b in LEVEL_ORDER:
                expected[transition(a, b)] += int(grid.at[a, b])
        assert {c: fig["data"][k]["x"][i] for k, c in enumerate(CHANGE_ORDER)} == expected, team
        label = plain(fig["layout"]["yaxis"]["ticktext"][i])
        assert f"{expected['new']} of {sum(expected.values())} newly delegated" in label, label
    new = fig["data"][CHANGE_ORDER.index("new")]["x"]
    assert new[-1] == max(new) > 0, "plotly draws the last team at the top: the most newly delegated"
    # the year control does not apply to the change view
    assert figures.team_share_figure(service.view(ViewState(view="change", year=2015)))["data"] == fig["data"]


def test_team_chart_hover_names_the_whole_team_and_the_years(service) -> None:  # noqa: ANN001
    fig = figures.team_share_figure(service.view(CHANGE))
    bristol = "Bristol, North Somerset, Somerset and South Gloucestershire"
    i = fig["data"][0]["y"].index(bristol)
    assert bristol not in plain(fig["layout"]["yaxis"]["ticktext"][i]), "the tick label is shortened to fit a phone"
    for trace in fig["data"]:
        assert plain(trace["customdata"][i][3]) == bristol and "%{customdata[3]}" in trace["hovertemplate"]
    unknown = fig["data"][CHANGE_ORDER.index("unknown")]
    assert "unknown → unknown" in " ".join(row[2] for row in unknown["customdata"])


def test_deprivation_chart_in_the_change_view_compares_newly_delegated_and_leaves_unknown_out(  # noqa: ANN001
        atlas, service) -> None:
    fig = figures.imd_by_level_figure(service.view(CHANGE))
    g = groups(atlas)
    imd = atlas.table["imd_score"]
    boxes = {plain(trace["name"]): trace for trace in fig["data"]}
    for label, key in (("Newly delegated in 2016/17", "new"), ("Not delegated in either year", "stayed"),
                       ("Delegated in both years", "kept")):
        name = f"{label} {int(g[key].sum())} CCGs"
        assert name in boxes, (name, list(boxes))
        assert sorted(boxes[name]["x"]) == sorted(imd[g[key]].tolist())
    assert sum(len(b["x"]) for b in boxes.values()) == int((~g["unknown"]).sum()), "unknown CCGs are not drawn"
    title = fig["layout"]["title"]["text"]
    assert SPAN in title and f"{int(g['unknown'].sum())} CCGs unknown in either year left out" in title
    picked = atlas.table.index[g["new"]][0]
    ringed = figures.imd_by_level_figure(service.view(CHANGE), [picked])
    assert plain(ringed["data"][-1]["y"][0]).startswith("Newly delegated"), "a selected CCG is ringed in its group"


def test_clustering_panel_in_the_change_view_tests_becoming_delegated(atlas, service) -> None:  # noqa: ANN001
    text = texts(clustering_panel(service, CHANGE))
    g = groups(atlas)
    new, stayed = int(g["new"].sum()), int(g["stayed"].sum())
    assert f"Change {SPAN}" in text
    assert (f"{new + stayed} were not delegated in 2015/16 and have a known 2016/17 level: {new} became "
            "delegated") in text
    assert f"{int(g['kept'].sum())} already delegated in 2015/16" in text
    # the neighbour pairs it reports are those of CCGs that both became delegated
    newly = set(atlas.table.index[g["new"]])
    pairs = {frozenset((a, b)) for a in newly for b in atlas.neighbours.get(a, []) if b in newly}
    assert f"{len(pairs)} pairs of neighbouring CCGs both became delegated" in text
    assert "whether a CCG became delegated in 2016/17 went with its area team" in text
    assert f"for the {new} CCGs that became delegated against" in text
    assert "Same-level neighbours (full levels)" not in text, "no statistic of one year's levels"


def test_change_tests_that_cannot_run_say_why(atlas, service) -> None:  # noqa: ANN001
    g = groups(atlas)
    gm = (atlas.table["area_team"] == "Greater Manchester") & (g["new"] | g["stayed"])
    assert g["new"][gm].all(), "every Greater Manchester CCG that could become delegated did"
    text = texts(clustering_panel(service, ViewState(view="change", area_teams=("Greater Manchester",))))
    assert text.count(f"cannot be tested: all {int(gm.sum())} CCGs that could become delegated did") == 3
    london = texts(clustering_panel(service, ViewState(view="change", regions=("London",))))
    assert "by area team cannot be tested: all" in london and "are in one area team, London" in london


def test_robustness_panel_does_not_claim_a_year_in_the_change_view(service) -> None:  # noqa: ANN001
    text = texts(robust_section(service, CHANGE))
    assert "covers one year's levels, not the change" in text and "Choose Level and a year" in text
    assert "2016/17, " not in text.split("not the change")[0]
    assert "2016/17, England" in texts(robust_section(service, ViewState(year=2016)))
    assert change.chart_state(ViewState(view="change", year=2015, ccgs=("E38000024",))) == \
        change.chart_state(CHANGE), "one cache entry per filter in the change view, whatever the year control says"


# --- the charts on a phone and a laptop, in Chromium ------------------------------------------------------------

FIT = """(sel) => {
  const g = document.querySelector(sel);
  const svg = g.querySelector('.main-svg').getBoundingClientRect();
  const bad = [];
  const box = (e) => e.getBoundingClientRect();
  for (const e of g.querySelectorAll('.xtick text, .ytick text, .g-xtitle text, .gtitle, .legendtext')) {
    const r = box(e);
    if (r.width === 0) continue;
    if (r.left < svg.left - 1 || r.right > svg.right + 1 || r.top < svg.top - 1 || r.bottom > svg.bottom + 1)
      bad.push(`cut: ${e.textContent} [${Math.round(r.left)}, ${Math.round(r.right)}] of [0, ${svg.width}]`);
  }
  const apart = (cls, lo, hi) => {
    const rs = [...g.querySelectorAll(cls + ' text')].map(box).filter((r) => r.width > 0).sort((a, b) => a[lo] - b[lo]);
    for (let i = 1; i < rs.length; i++) if (rs[i][lo] < rs[i - 1][hi] - 0.5) bad.push(`${cls} labels overlap`);
  };
  apart('.xtick', 'left', 'right');
  apart('.ytick', 'top', 'bottom');
  const bar = g.querySelector('.modebar');
  const title = g.querySelector('.gtitle');
  if (!title) bad.push('no title');
  if (bar && title) {
    const a = box(bar), b = box(title);
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) bad.push('toolbar over title');
  }
  return bad;
}"""


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (make test installs it)")
@pytest.mark.parametrize("width", [390, 1280])
def test_charts_fit_a_phone_and_a_laptop(open_page, width) -> None:  # noqa: ANN001, F811
    for query, team_title in (("?view=change", "Area teams by change"), ("?year=2016", "Area teams by level")):
        p = open_page(query, viewport={"width": width, "height": 844})
        p.wait_text("#team-chart", team_title)
        p.wait_text("#imd-chart", "Deprivation by")
        for chart in ("#team-chart", "#imd-chart"):
            p.page.locator(chart).scroll_into_view_if_needed()
            p.page.locator(chart).hover()  # shows the toolbar
            p.page.wait_for_selector(f"{chart} .modebar", state="attached")
            assert p.js(f"() => ({FIT})('{chart}')") == [], (query, chart, width)

