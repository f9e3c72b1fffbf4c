"""One view, one truth: the slide, the page's legend and counts, the table (and so its CSV) and the statistics
JSON state the same numbers for a view, over a matrix of views (both years; every evidence choice; England,
London, Greater Manchester, IMD 1-2, a selection outside the filter, the change view).

Each channel is read as a user gets it: the slide's words from its figure (the text its SVG export holds), the
page's counts table and map legend from the components the page renders, the table's rows from what the grid
lists, and the statistics from ``dashboard.stats --json``. The expected numbers are counted here from the atlas
table itself, not taken from the report the channels render, so a report that miscounts fails too.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest

from dashboard import figures, stats, summaries
from dashboard.page import components, table
from dashboard.report import report_for
from dashboard.slides import slide
from dashboard.state import ViewState

BURY = "E38000024"  # Greater Manchester, IMD quintile 3: outside "Greater Manchester, IMD 1-2"

PLACES = {
    "england": {},
    "london": {"regions": ("London",)},
    "gm": {"area_teams": ("Greater Manchester",)},
    "imd12": {"imd": (1, 2)},
    "selection-outside": {"area_teams": ("Greater Manchester",), "imd": (1, 2), "ccgs": (BURY,)},
}
MATRIX = [(place, year, evidence, "level") for place in PLACES for year in (2015, 2016)
          for evidence in ("any", "approved", "operating")]
MATRIX += [(place, 2016, evidence, "change") for place in ("england", "london") for evidence in ("any", "operating")]


def _state(place: str, year: int, evidence: str, view: str) -> ViewState:
    return ViewState(year=year, evidence=evidence, view=view, **PLACES[place])


def expected(service, state: ViewState) -> dict[str, int]:  # noqa: ANN001
    """Counts straight from the atlas table: in the filter, per level under the evidence choice, set aside, none."""
    t = service.table
    year = 2016 if state.view == "change" else state.year
    mask = np.ones(len(t), dtype=bool)
    if state.area_teams:
        mask &= t["area_team"].isin(state.area_teams).to_numpy()
    if state.regions:
        mask &= t["region"].isin(state.regions).to_numpy()
    mask &= t["imd_quintile"].between(*state.imd).to_numpy()
    sub = t[mask]
    keep = {"any": {"operating", "approved", "implied", "area", "rule"}, "approved": {"operating", "approved"},
            "operating": {"operating"}}[state.evidence]
    stated = sub[f"level_{year}"] != "unknown"
    kept = stated & sub[f"claim_{year}"].isin(keep)
    out = {"n": int(mask.sum()), "no_source": int((~stated).sum()), "set_aside": int((stated & ~kept).sum())}
    for level, n in sub.loc[kept, f"level_{year}"].value_counts().items():
        out[str(level)] = int(n)
    out["known"] = out["n"] - out["no_source"] - out["set_aside"]
    return out


def slide_text(service, state: ViewState) -> str:  # noqa: ANN001
    fig = slide.slide_figure(service.view(state))
    text = " ".join(re.sub(r"<[^>]+>", " ", a.text or "") for a in fig.layout.annotations)
    return re.sub(r"\s+", " ", text).replace("&amp;", "&")


def page_text(component: object) -> str:
    """The text a component renders, in document order."""
    if isinstance(component, (str, int, float)):
        return str(component)
    if isinstance(component, (list, tuple)):
        return " ".join(page_text(c) for c in component)
    children = getattr(component, "children", None)
    return "" if children is None else page_text(children)


def page_counts(service, state: ViewState) -> dict[str, int]:  # noqa: ANN001
    """The page's counts table: label -> CCGs in the filter, as rendered."""
    panel = components.level_summary(report_for(service, state))
    tbody = panel.children[1].children[2]
    out = {}
    for tr in tbody.children:
        label, ccgs = page_text(tr.children[0]).strip(), int(page_text(tr.children[1]))
        out[label] = ccgs
    return out


@pytest.mark.parametrize(("place", "year", "evidence", "view"), MATRIX,
                         ids=[f"{p}-{y}-{e}-{v}" for p, y, e, v in MATRIX])
def test_every_channel_states_the_same_counts(service, place: str, year: int, evidence: str, view: str) -> None:  # noqa: ANN001
    state = _state(place, year, evidence, view)
    want = expected(service, state)
    shown = "shown" if state.filtered else "in England"

    # the slide: its counts sentences and (level view) its legend
    text = slide_text(service, state)
    assert f"{want['n']} CCGs {shown}: level known for {want['known']}" in text
    if want["n"] > want["known"]:
        assert f"Level not shown for {want['n'] - want['known']} of {want['n']} CCGs {shown}" in text
        assert f"no public source found for {want['no_source']}" in text
    if evidence != "any":
        assert f"set aside for {want['set_aside']} (source weaker than the evidence chosen)" in text
    else:
        assert "set aside" not in text

    # the page's counts table
    counts = page_counts(service, state)
    assert counts["Unknown: no source found"] == want["no_source"]
    if evidence != "any":
        assert counts["Set aside: its source is weaker than the evidence chosen"] == want["set_aside"]
    for level, label in (("delegated", "Delegated (level 3)"), ("joint", "Joint (level 2)"),
                         ("not_delegated", "Not delegated, level not stated")):
        assert counts[label] == want.get(level, 0), label

    # the map legend (page and slide draw the same one) in the level view
    if view == "level":
        arr = figures.map_arrays(service.view(state))
        names = [n for n, v in zip(arr.legend_names, arr.legend_visible) if v]
        assert f"Delegated (level 3): {want.get('delegated', 0)}" in names
        assert f"Unknown: no source found: {want['no_source']}" in names
        for name in names:  # a crowded slide may leave out the levels with no CCG
            assert name in text or name.endswith(": 0"), "the slide's legend is the page's"
        dot = figures.dot_style(service.view(state))[1]
        if evidence != "any":
            assert dot.endswith(f": {want['set_aside']}") and dot in text

    # the table (and so its CSV): the filter's rows, one per CCG, levels under the evidence chosen
    rows = table.shown_rows(service.view(state))
    if not state.ccgs:
        assert len(rows) == want["n"]
        field = f"level_{2016 if view == 'change' else year}"
        assert sum(r[field] == "delegated" for r in rows) == want.get("delegated", 0)
        assert sum(r[field] == "unknown" for r in rows) == want["no_source"] + want["set_aside"]


@pytest.mark.parametrize(("place", "year", "evidence"), [("london", 2016, "approved"), ("gm", 2015, "any"),
                                                          ("england", 2016, "operating")])
def test_stats_json_counts_the_view_as_the_page_does(service, place: str, year: int, evidence: str) -> None:  # noqa: ANN001
    state = _state(place, year, evidence, "level")
    want = expected(service, state)
    argv = ["--year", str(year), "--evidence", evidence, "--completions", "20", "--seed", "1", "--json"]
    for team in state.area_teams:
        argv += ["--area-team", team]
    for region in state.regions:
        argv += ["--region", region]
    out, err = io.StringIO(), io.StringIO()
    assert stats.run(stats.build_parser().parse_args(argv), service, out, err) == 0, err.getvalue()
    data = json.loads(out.getvalue())
    assert data["n_selected"] == want["n"]
    assert data["n_known"] == want["known"]


def test_a_selection_outside_the_filter_is_said_alike_on_page_and_slide(service) -> None:  # noqa: ANN001
    state = _state("selection-outside", 2016, "any", "level")
    sentence = "Selected but outside the filter, so not counted in this view: NHS Bury CCG."
    assert sentence in slide_text(service, state)
    details = [d for c in state.ccgs if (d := summaries.details(service, c))]
    assert sentence in page_text(components.details_panel(details, report_for(service, state).selection.sentence))


def test_percentages_round_half_up_everywhere() -> None:
    from fractions import Fraction

    from dashboard.numbers import percent_value

    for whole in range(1, 210):
        for part in range(whole + 1):
            exact = Fraction(100 * part, whole)
            want = int(exact) + (1 if exact - int(exact) >= Fraction(1, 2) else 0)
            want = 99 if want == 100 and part < whole else 1 if want == 0 and part > 0 else want
            assert percent_value(part, whole) == want, (part, whole)
