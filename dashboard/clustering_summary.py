"""The clustering statistics of a view, cached on the service: the data behind the panel and the map's marks.

No Dash here, so the slide renderer and the CLIs can mark clusters as the page does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from dashboard import analysis
from dashboard.analysis import PermutationTables
from dashboard.service import AtlasService
from dashboard.state import ViewState, filters_only


def _tables(service: AtlasService) -> PermutationTables:
    """The service's relabellings, shared by every filter state of this atlas."""
    return service.derived("analysis.permutations", lambda: PermutationTables())


def _lookups(service: AtlasService) -> dict[str, Mapping[str, Any]]:
    """Code -> area team, IMD score, population and name, made once per service."""
    def make() -> dict[str, Mapping[str, Any]]:
        t = service.table
        return {col: dict(zip(map(str, t.index), t[col].to_numpy(dtype=object)))
                for col in ("area_team", "imd_score", "population", "ccg_name")}

    return service.derived("analysis.lookups", make)


def summary_for(service: AtlasService, state: ViewState) -> analysis.Summary:
    """Statistics for the year and filters; the same filter state is answered from the service's cache."""
    key = filters_only(state)

    def make() -> analysis.Summary:
        view, t, look = service.view(key), service.table, _lookups(service)
        levels = pd.Series(view.level, index=t.index)
        return analysis.summarise(levels, service.atlas.neighbours, look["area_team"], look["imd_score"],
                                  look["population"], mask=view.mask, year=state.year, tables=_tables(service))

    return service.cache("summary").get_or_make(key, make)


def cluster_table(service: AtlasService, state: ViewState) -> pd.DataFrame:
    """Per-CCG local clustering (full levels), indexed by GSS code, for the map layer."""
    return summary_for(service, state).full.local.table.set_index("ccg_code")
