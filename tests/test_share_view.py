"""The share view (``view=share``): each open CCG-year coloured by the share of admissible histories in which it
was delegated, known levels as known; the legend counts what the map colours; the details panel words it."""

from __future__ import annotations

import pytest

from dashboard import figures, summaries
from dashboard.shares import shares_for
from dashboard.state import ViewState, parse_query, to_query
from geodata.vocabulary import SHARE_ORDER


@pytest.mark.parametrize("year", [2015, 2016])
def test_share_view_bins_each_open_ccg_by_its_delegated_share(service, year: int) -> None:  # noqa: ANN001
    view = service.view(ViewState(year=year, view="share"))
    got = figures.share_categories(view)
    shares = shares_for(service)
    shares = shares[shares["year"] == year]
    delegated = dict(zip(shares.loc[shares["level"] == "delegated", "ods_code"],
                         shares.loc[shares["level"] == "delegated", "share"]))
    opened = set(shares["ods_code"])
    for i, (ods, level) in enumerate(zip(service.table["ods_code"], service.table[f"level_{year}"])):
        name = SHARE_ORDER[got[i]]
        if level == "delegated":
            assert name == "known_delegated"
        elif level == "unknown":
            assert ods in opened
            share = delegated.get(ods, 0.0)
            low = {"share_75": 0.75, "share_50": 0.5, "share_25": 0.25, "share_0": 0.0}[name]
            assert low <= share < low + 0.25 or (low == 0.75 and share <= 1.0), (ods, share, name)
        else:
            assert name == "known_not_delegated"
    arr = figures.map_arrays(view)
    counted = sum(int(n.rsplit(": ", 1)[1]) for n, v in zip(arr.legend_names, arr.legend_visible) if v)
    assert counted == 209 and arr.z == got.tolist()


def test_share_view_is_a_url_parameter_and_its_details_say_it_is_not_a_prediction(service) -> None:  # noqa: ANN001
    state = parse_query("?year=2015&view=share&region=London", service.vocabulary)
    assert state.view == "share" and not state.notices and "view=share" in to_query(state)
    t = service.table
    code = t[t["level_2015"] == "unknown"].index[0]
    words = summaries.details(service, code)["years"][0][3]
    assert "not a prediction" in words and "%" in words
