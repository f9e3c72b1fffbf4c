"""The clustering panel and the map's cluster layer: cached calls into :mod:`dashboard.analysis`, rendered."""

from __future__ import annotations

import pandas as pd
from dash import html

from dashboard import analysis
from dashboard.figures import LEVEL_LABEL, NO_CCGS, YEAR_LABEL
from dashboard.state import ViewState, filter_mask
from geodata.atlas import Atlas

_TOKENS: dict[str, str] = {}


def _geography(atlas: Atlas) -> str:
    """Register the atlas's neighbours, teams and IMD with the analysis cache once per build."""
    if atlas.build_id not in _TOKENS:
        t = atlas.table
        _TOKENS[atlas.build_id] = analysis.register_geography(atlas.neighbours, t["area_team"], t["imd_score"],
                                                              t["population"])
    return _TOKENS[atlas.build_id]


def summary_for(atlas: Atlas, state: ViewState) -> analysis.Summary:
    """Statistics for the year and filters; the same filter state is answered from the cache."""
    token = _geography(atlas)
    levels = atlas.table[f"level_{state.year}"]
    key = analysis.levels_key(levels, filter_mask(atlas.table, state))
    return analysis.summarise_cached(state.year, key, token)


def cluster_table(atlas: Atlas, state: ViewState) -> pd.DataFrame:
    """Per-CCG local clustering (full levels), indexed by GSS code, for the map layer."""
    return summary_for(atlas, state).full.local.table.set_index("ccg_code")


def _cluster_hint(n_significant: int, by_chance: float) -> str:
    if n_significant == 0:
        return "No CCG is in a significant same-level cluster, so the checkbox under the map marks none."
    chance = f"about {by_chance:.0f}" if by_chance >= 0.5 else "fewer than one"
    return (f"Tick the box under the map to mark the {n_significant} CCG{'s' if n_significant != 1 else ''} in a "
            f"significant same-level cluster; {chance} could be flagged by chance alone.")


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _table(df: pd.DataFrame, columns: dict[str, str], formats: dict[str, str] | None = None) -> html.Table:
    formats = formats or {}
    head = html.Tr([html.Th(label) for label in columns.values()])
    rows = []
    for r in df.to_dict("records"):  # plain Python values; iterrows cost more than the statistics
        cells = []
        for col in columns:
            v = r[col]
            if isinstance(v, float) and pd.isna(v):
                text = ""
            elif col in formats:
                text = format(v, formats[col])
            else:
                text = LEVEL_LABEL.get(v, v) if isinstance(v, str) else v
            cells.append(html.Td(text, className="num" if isinstance(v, int | float) else None))
        rows.append(html.Tr(cells))
    return html.Table([html.Thead(head), html.Tbody(rows)], className="summary-table")


def _names(atlas: Atlas, codes: tuple[str, ...], limit: int = 8) -> str:
    names = [str(atlas.table.at[c, "ccg_name"]) if c in atlas.table.index else c for c in codes]
    return "; ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def clustering_panel(atlas: Atlas, state: ViewState) -> list[object]:
    s = summary_for(atlas, state)
    if s.n_selected == 0:
        return [html.P(NO_CCGS, className="notice")]
    r = dict(s.readings)
    if s.islands:  # the analysis knows codes only; readers know names
        r["islands"] = (f"Not counted in the neighbour statistics, because no neighbour in the filter has a known "
                        f"level: {_names(atlas, s.islands)}.")
    out: list[object] = [
        html.P([html.Strong(f"{YEAR_LABEL[state.year]}, CCGs in the filter. "), r["coverage"]], className="notice"),
        html.P(r["views"], className="hint"),
        html.H3("Do neighbouring CCGs share a level?"),
        html.P(r.get("join_counts.full", ""), className="reading"),
        html.P(r.get("join_counts.binary", ""), className="reading"),
    ]
    if "join_counts.binary.delegated" in r:
        out.append(html.P(r["join_counts.binary.delegated"], className="reading"))
    if "islands" in r:
        out.append(html.P(r["islands"], className="hint"))
    jc = s.full.join_counts
    if jc.enough_data and not jc.per_level.empty:
        out.append(_table(jc.per_level, {"level": "Level", "n_ccgs": "CCGs", "observed": "Same-level pairs seen",
                                         "expected": "Expected by chance", "p_cluster": "p (clustered)"},
                          {"expected": ".1f", "p_cluster": ".3f"}))
    out += [
        html.H3("Do CCGs of the same area team share a level?"),
        html.P(r.get("concordance.full", ""), className="reading"),
        html.P(r.get("concordance.binary", ""), className="reading"),
    ]
    if "concordance.most_uniform_team" in r:
        out.append(html.P(r["concordance.most_uniform_team"], className="reading"))
    conc = s.full.concordance
    if conc.enough_data and not conc.per_team.empty:
        teams = conc.per_team[conc.per_team["n_known"] > 0]
        out.append(_table(teams, {"team": "Area team (most uniform first)", "n_known": "Known",
                                  "n_unknown": "Unknown", "modal_level": "Most common level",
                                  "modal_share": "Share at it"}, {"modal_share": ".0%"}))
        empty = conc.per_team.loc[conc.per_team["n_known"] == 0, "team"].tolist()
        if empty:
            out.append(html.P(f"Not listed, no CCG with a known level: {'; '.join(empty)}.", className="hint"))
    local = s.full.local
    out += [
        html.H3("Local clusters"),
        html.P(r.get("local.full", ""), className="reading"),
        html.P(_cluster_hint(local.n_significant, local.n_expected_false_positives), className="hint"),
        html.H3("Were delegated CCGs more deprived?"),
        html.P(r.get("deprivation.binary", ""), className="reading"),
        html.P(r.get("deprivation.full", ""), className="reading"),
    ]
    dep = s.deprivation
    if not dep.by_level.empty:
        out.append(_table(dep.by_level, {"level": "Level", "n": "CCGs", "median": "Median IMD", "mean": "Mean IMD",
                                         "pop_weighted_mean": "Population-weighted mean"},
                          {"median": ".1f", "mean": ".1f", "pop_weighted_mean": ".1f"}))
    out.append(html.P(f"Permutation tests with {s.permutations} random relabellings (seed {s.seed}); "
                      "p-values are one-sided for clustering. Unknown levels are left out, never guessed.",
                      className="hint"))
    return out
