"""Counts and tables that follow the filters: plain pandas and numpy, shared by the page and the slide export."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from dashboard.figures import LEVEL_LABEL, LEVEL_ORDER, NO_CCGS, YEAR_LABEL, level_codes
from dashboard.state import ViewState, filter_mask
from geodata.atlas import Atlas

# Published national totals in force from 1 April (NHS England board paper via HSJ; BJGP 2018).
NATIONAL = {
    2015: {"delegated": 63, "joint": 87},
    2016: {"delegated": 115, "joint": 68, "greater_involvement": 26},
}


def national_totals(atlas: Atlas, year: int) -> dict[str, int]:
    """Published national counts for the year, from the build's reconciliation (in-operation figures)."""
    key = (atlas.build_id, year)
    if key not in _NATIONAL_CACHE:
        _NATIONAL_CACHE[key] = _national_totals(atlas, year)
    return _NATIONAL_CACHE[key]


_NATIONAL_CACHE: dict[tuple[str, int], dict[str, int]] = {}


def _national_totals(atlas: Atlas, year: int) -> dict[str, int]:
    rec = atlas.reconciliation
    rec = rec[(rec["year"] == year) & (rec["scope"] == "England")]
    out = dict(NATIONAL[year])
    for level, group in rec.groupby("level"):
        in_op = group[group["measure"].str.startswith("in_operation")]
        if not in_op.empty and level not in out:
            out[str(level)] = int(in_op["published"].max())
    return out


def level_counts(atlas: Atlas, state: ViewState) -> pd.DataFrame:
    """Per level: CCGs in the filter, their share of all and of those with a known level, and the
    published national total, so that a gap between the atlas and the published figure is visible."""
    table = atlas.table
    mask = filter_mask(table, state).to_numpy()
    codes = level_codes(table[f"level_{state.year}"])
    counts = np.bincount(codes[mask], minlength=len(LEVEL_ORDER))
    national = np.bincount(codes, minlength=len(LEVEL_ORDER))
    n = int(mask.sum())
    known = n - int(counts[-1])  # the last level is unknown
    published = national_totals(atlas, state.year)
    rows = []
    for i, level in enumerate(LEVEL_ORDER):
        c = int(counts[i])
        rows.append({
            "level": level, "label": LEVEL_LABEL[level], "ccgs": c,
            "share_all": c / n if n else 0.0,
            "share_known": (c / known if known else 0.0) if level != "unknown" else None,
            "england_atlas": int(national[i]),
            "england_published": published.get(level),
        })
    return pd.DataFrame(rows)


def transition_counts(atlas: Atlas, state: ViewState) -> pd.DataFrame:
    """2015/16 level (rows) by 2016/17 level (columns) for CCGs in the filter."""
    table = atlas.table
    mask = filter_mask(table, state).to_numpy()
    n = len(LEVEL_ORDER)
    pairs = level_codes(table["level_2015"])[mask] * n + level_codes(table["level_2016"])[mask]
    grid = np.bincount(pairs, minlength=n * n).reshape(n, n)
    return pd.DataFrame(grid, index=list(LEVEL_ORDER), columns=list(LEVEL_ORDER))


def coverage_sentence(atlas: Atlas, state: ViewState) -> str:
    table = atlas.table
    mask = filter_mask(table, state)
    col = f"level_{state.year}"
    n = int(mask.sum())
    if n == 0:
        return NO_CCGS
    unknown = int((table.loc[mask, col] == "unknown").sum())
    return (f"{n} CCGs in the filter; {n - unknown} have a sourced level for {YEAR_LABEL[state.year]}, "
            f"{unknown} are unknown. Shares of known levels depend on which CCGs could be sourced.")


def table_rows(atlas: Atlas, state: ViewState) -> list[dict[str, object]]:
    """Rows for the CCG table: CCGs in the filter, or only the selected ones when there is a selection."""
    records = _records(atlas)
    if state.ccgs:
        position = {c: i for i, c in enumerate(atlas.table.index)}
        return [records[position[c]] for c in state.ccgs if c in position]
    return [records[i] for i in np.flatnonzero(filter_mask(atlas.table, state).to_numpy())]


def table_caption(atlas: Atlas, state: ViewState, shown: int) -> str:
    """Say what the table (and so its CSV) holds: the selection narrows it, which is easy to miss."""
    in_filter = int(filter_mask(atlas.table, state).sum())
    if state.ccgs:
        return (f"Showing the {shown} selected CCG{'s' if shown != 1 else ''} only, not all {in_filter} in the "
                "filter. To list them all, clear Find CCGs (its × button) or click each selected CCG again.")
    return f"Showing the {shown} CCGs in the filter." if shown else NO_CCGS


TABLE_COLUMNS = ["ccg_code", "ods_code", "ccg_name", "area_team", "region", "local_office", "imd_score", "imd_rank",
                 "imd_quintile", "population", "level_2015", "level_2016", "source_2015", "source_2016"]
_RECORDS: dict[str, list[dict[str, object]]] = {}


def _records(atlas: Atlas) -> list[dict[str, object]]:
    """Table rows as dicts, made once per atlas build: slicing a list is cheaper than a DataFrame per request."""
    if atlas.build_id not in _RECORDS:
        _RECORDS[atlas.build_id] = atlas.table[TABLE_COLUMNS].to_dict("records")
    return _RECORDS[atlas.build_id]


URL = re.compile(r"<(https?://[^>\s]+)>")


def split_sources(source: str) -> list[tuple[str, str | None]]:
    """'title (date) <url> | rule:...' -> [(text, url)], for links in the details panel."""
    out = []
    for part in filter(None, source.split(" | ")):
        m = URL.search(part)
        out.append((URL.sub("", part).strip(), m.group(1) if m else None))
    return out


def details(atlas: Atlas, code: str) -> dict[str, object] | None:
    """Everything the details panel shows for one CCG, or None for an unknown code."""
    if code not in atlas.table.index:
        return None
    r = atlas.table.loc[code]
    return {
        "name": r["ccg_name"], "ccg_code": code, "ods_code": r["ods_code"],
        "area_team": f"{r['area_team']} ({r['area_team_code']})", "region": r["region"],
        "local_office": r["local_office"],
        "imd": f"{r['imd_score']:.1f}, rank {r['imd_rank']} of 209, quintile {r['imd_quintile']}",
        "population": f"{int(r['population']):,} (ONS mid-2015)",
        "years": [(YEAR_LABEL[y], LEVEL_LABEL[r[f'level_{y}']], split_sources(r[f"source_{y}"])) for y in (2015, 2016)],
        "neighbours": [atlas.table.at[c, "ccg_name"] for c in atlas.neighbours.get(code, [])],
    }
