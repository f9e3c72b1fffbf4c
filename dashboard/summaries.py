"""Counts and tables that follow the filters: plain numpy and pandas, shared by the page and the slide export.
``split_sources`` and ``claim_words`` (the details panel's links and claim words) live in
``geodata.table_export`` beside the download rows that use them too, and are re-exported here.

Every function reads a :class:`dashboard.service.View` (mask, level codes and counts computed once per view
state) or the :class:`dashboard.service.AtlasService` for data that no filter changes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.numbers import percent
from dashboard.report import NO_CCGS, report_for
from dashboard.service import AtlasService, View, level_codes
from dashboard.shares import shares_for
from geodata.table_export import claim_words, flat_table, split_sources
from geodata.totals import GREATER_INVOLVEMENT_OR_NONE
from geodata.vocabulary import LEVEL_LABEL, LEVEL_ORDER, LEVEL_WORDS, YEAR_LABEL, YEARS

#: The sampler's level for 2015/16's lower levels, which no published total separates.
GROUP_WORDS = {GREATER_INVOLVEMENT_OR_NONE: "greater involvement or no role"}


def level_counts(view: View) -> pd.DataFrame:
    """The view's report rows as a table (level, label, ccgs, share_known, england_atlas, england_published): per
    level, then set-aside levels (under a stricter evidence choice) and unknown ones, for scripts and tests."""
    rows = report_for(view.service, view.state).rows
    return pd.DataFrame([{"level": r.key, "label": r.label, "ccgs": r.ccgs, "share_known": r.share_known or None,
                          "england_atlas": r.england, "england_published": r.published} for r in rows])


def transition_counts(view: View) -> pd.DataFrame:
    """2015/16 level (rows) by 2016/17 level (columns) for CCGs in the filter."""
    n = len(LEVEL_ORDER)
    m = view.mask
    pairs = level_codes(view.levels_2015[m]) * n + level_codes(view.levels_2016[m])
    grid = np.bincount(pairs, minlength=n * n).reshape(n, n)
    return pd.DataFrame(grid, index=list(LEVEL_ORDER), columns=list(LEVEL_ORDER))


def coverage_sentence(view: View) -> str:
    """The view's coverage sentence, from its report."""
    return report_for(view.service, view.state).coverage


TABLE_COLUMNS = ["ccg_code", "ods_code", "ccg_name", "area_team", "region", "local_office", "imd_score", "imd_rank",
                 "imd_quintile", "population", "level_2015", "level_2016", "claim_2015", "claim_2016", "source_2015",
                 "source_2016"]
#: What the page's table rows carry beyond ``TABLE_COLUMNS``: the levels in words (set aside told apart from unknown).
WORD_COLUMNS = [f"level_{year}_words" for year in YEARS]


def flat(service: AtlasService, evidence: str = "any") -> pd.DataFrame:
    """Every CCG's download row under an evidence choice (``geodata.table_export.flat_table``), made once per
    service: the table's rows, its CSV, the ZIP and ``geodata export-csv`` all read this one derivation."""
    return service.derived(f"flat_table.{evidence}",
                           lambda: flat_table(service.table, evidence, service.atlas.level_rows))


def records(service: AtlasService, evidence: str = "any") -> list[dict[str, object]]:
    """Table rows as dicts, made once per service and evidence choice (a level resting on a weaker claim is
    'unknown', its words say it was set aside): slicing a list is cheaper than a DataFrame per request."""
    return service.derived(f"table_records.{evidence}",
                           lambda: flat(service, evidence)[TABLE_COLUMNS + WORD_COLUMNS].to_dict("records"))


def table_caption(view: View, shown: int) -> str:
    """Say what the table (and so its CSV) holds: the selection narrows it, which is easy to miss."""
    if view.state.ccgs:
        return (f"Showing the {shown} selected CCG{'s' if shown != 1 else ''} only, not all {view.n} in the "
                "filter. To list them all, clear Find CCGs (its × button) or click each selected CCG again.")
    if not shown:
        return NO_CCGS
    return "Showing the one CCG in the filter." if shown == 1 else f"Showing the {shown} CCGs in the filter."


def details(service: AtlasService, code: str) -> dict[str, object] | None:
    """Everything the details panel shows for one CCG, or None for an unknown code."""
    table = service.table
    if code not in table.index:
        return None
    r = table.loc[code]
    return {
        "name": r["ccg_name"], "ccg_code": code, "ods_code": r["ods_code"],
        "area_team": f"{r['area_team']} ({r['area_team_code']})", "region": r["region"],
        "local_office": r["local_office"],
        "imd": f"{r['imd_score']:.1f}, rank {r['imd_rank']} of 209, quintile {r['imd_quintile']}",
        "population": f"{int(r['population']):,} (ONS mid-2015)",
        "years": [(YEAR_LABEL[y], LEVEL_LABEL[r[f'level_{y}']], split_sources(r[f"source_{y}"]),
                   claim_words(r[f"claim_{y}"], r[f"source_{y}"], y) or share_words(service, r["ods_code"], y))
                  for y in YEARS],
        "neighbours": [table.at[c, "ccg_name"] for c in service.atlas.neighbours.get(code, [])],
    }


def share_words(service: AtlasService, ods: str, year: int) -> str:
    """For a CCG-year no source states: what the published totals allow it to have been, as shares of the
    admissible histories under the default prior ('' for a stated level). Not a prediction, and said so."""
    table = shares_for(service)
    rows = table[(table["ods_code"] == ods) & (table["year"] == year)].sort_values("share", ascending=False)
    if rows.empty:
        return ""
    parts = [f"{GROUP_WORDS.get(r.level, LEVEL_WORDS.get(r.level, r.level))} in "
             f"{percent(round(r.share * 10_000), 10_000)}" for r in rows.itertuples() if r.share > 0]
    return ("no source states it; of the histories the published totals allow (each equally likely), it is "
            + ", ".join(parts) + " of them: a consequence of the totals, not a prediction")
