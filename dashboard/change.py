"""The change 2015/16 -> 2016/17 as the change view's charts and statistics read it: groups of CCGs, no Dash.

The map colours every CCG by :func:`dashboard.service.transition` (its 2016/17 level, with the 2015/16 one
where it says more). The deprivation chart and the clustering panel need a sharper question, "did the CCG
become delegated in 2016/17?", which only a CCG known not to be delegated in 2015/16, with a known 2016/17
level, can answer: CCGs already delegated in 2015/16 could not newly become so, and an unknown level in either
year leaves the answer unknown. Both kinds are left out of the comparison and counted, never guessed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from dashboard.service import View
from dashboard.state import ViewState, filters_only
from geodata.vocabulary import CHANGE_COLOR, CHANGE_LABEL, DELEGATED, LEVEL_COLOR, NOT_DELEGATED, UNKNOWN, YEAR_LABEL

#: The change the view describes, in words for titles and sentences.
SPAN = f"{YEAR_LABEL[2015]} → {YEAR_LABEL[2016]}"

#: Groups of CCGs by how their delegation changed; ``unknown``: a level unknown in either year (left out).
NEW, KEPT, STAYED, LEFT, UNKNOWN_EITHER = "new", "kept", "stayed", "left", "unknown"
GROUP_ORDER: tuple[str, ...] = (NEW, KEPT, STAYED, LEFT)  # shown in this order; unknown is left out
GROUP_LABEL: dict[str, str] = {
    NEW: CHANGE_LABEL["new"],
    KEPT: CHANGE_LABEL["kept"],
    STAYED: "Not delegated in either year",
    LEFT: "Delegated in 2015/16 only",
    UNKNOWN_EITHER: "Unknown in either year",
}
GROUP_COLOR: dict[str, str] = {
    NEW: CHANGE_COLOR["new"], KEPT: CHANGE_COLOR["kept"], STAYED: CHANGE_COLOR["not_delegated"],
    LEFT: LEVEL_COLOR["joint"], UNKNOWN_EITHER: CHANGE_COLOR["unknown"],
}


def chart_state(state: ViewState) -> ViewState:
    """What the charts and the clustering panels depend on: the filters, the evidence and the view.

    The change view ignores the year control, so every change state shares one year (and one cache entry).
    """
    base = filters_only(state)
    return replace(base, view="change", year=2016) if state.view == "change" else base


def groups(levels_2015: np.ndarray, levels_2016: np.ndarray) -> np.ndarray:
    """The change group of each CCG (see :data:`GROUP_LABEL`)."""
    l15, l16 = np.asarray(levels_2015, dtype=object), np.asarray(levels_2016, dtype=object)
    out = np.full(len(l15), UNKNOWN_EITHER, dtype=object)
    known = (l15 != UNKNOWN) & (l16 != UNKNOWN)
    was, now = l15 == DELEGATED, l16 == DELEGATED
    out[known & was & now] = KEPT
    out[known & ~was & now] = NEW
    out[known & ~was & ~now] = STAYED
    out[known & was & ~now] = LEFT
    return out


def view_groups(view: View) -> np.ndarray:
    """:func:`groups` for every CCG of a view (all CCGs; ``view.mask`` says which are in the filter)."""
    return groups(view.levels_2015, view.levels_2016)


def became_delegated(view: View) -> pd.Series:
    """Per CCG code: ``delegated`` if it became delegated in 2016/17, ``not_delegated`` if it stayed not delegated,
    ``unknown`` for every other CCG (already delegated in 2015/16, or a level unknown in either year).

    The binary variable the clustering statistics test, in the level vocabulary they expect.
    """
    g = view_groups(view)
    values = np.where(g == NEW, DELEGATED, np.where(g == STAYED, NOT_DELEGATED, UNKNOWN))
    return pd.Series(values, index=view.table.index, dtype=object)


def group_counts(view: View) -> dict[str, int]:
    """CCGs in the filter per change group, unknown included."""
    g = view_groups(view)[view.mask]
    return {k: int((g == k).sum()) for k in (*GROUP_ORDER, UNKNOWN_EITHER)}
