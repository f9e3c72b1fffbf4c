"""Co-commissioning levels per CCG and year: merging sourced rows, stated inference rules, reconciliation.

Every level in the atlas comes from a row that names its source, or from one of the rules below, which
says so in the source column. A CCG and year that no source and no rule covers is ``unknown``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from geodata.sources import SourceError
from geodata.vocabulary import (
    EVIDENCE_CHOICES,
    LEVELS,
    LOWER_LEVELS,
    PERIOD_BY_YEAR,
    SOURCE_CLAIMS,
    UNKNOWN,
    VOCABULARY,
    YEARS,
    contradicts,
    strongest_claim,
)

__all__ = ["LEVELS", "LOWER_LEVELS", "PERIOD_BY_YEAR", "UNKNOWN", "VOCABULARY", "YEARS"]
EVIDENCE = ("explicit", "dated_document", "imported", "rule")

RULE_DELEGATED_PERSISTS = "rule:delegated_persists"
RULE_NEWLY_AUTHORISED = "rule:newly_authorised_2016"
RULE_SOURCES = {
    RULE_DELEGATED_PERSISTS: (
        "NHS England, 'More CCGs set to take on commissioning of GP services' (Dec 2015): the CCGs delegated "
        "in 2015/16 continue with delegation in 2016/17, alongside those newly authorised",
        "https://www.england.nhs.uk/2015/12/commissioning-gp-serv/",
    ),
    RULE_NEWLY_AUTHORISED: (
        "NHS England, 'More CCGs set to take on commissioning of GP services' (Dec 2015) and Pulse 20030779: "
        "CCGs newly authorised for April 2016 were not delegated in 2015/16",
        "https://www.england.nhs.uk/2015/12/commissioning-gp-serv/",
    ),
}
# Sources whose 2016 'delegated' rows are the Dec 2015 list of CCGs newly authorised from April 2016.
NEWLY_AUTHORISED_MARKERS = ("20030779", "7003641")  # Pulse and HSJ lists of the 52 (51) new CCGs


def validate_rows(rows: pd.DataFrame, known_ods: Iterable[str]) -> pd.DataFrame:
    """Check codes, years, levels and evidence of raw level rows; stop on the first bad column."""
    known = set(known_ods)
    rows = rows.copy()
    checks = [
        ("ods_code", ~rows["ods_code"].isin(known), "CCG codes not among the 209 CCGs of 2015/16"),
        ("year", ~rows["year"].isin([str(y) for y in YEARS]), "years other than 2015 and 2016"),
        ("level", ~rows["level"].isin(LEVELS), f"levels outside the vocabulary {LEVELS}"),
        ("evidence", ~rows["evidence"].isin(EVIDENCE), f"evidence outside {EVIDENCE}"),
        ("claim", ~rows["claim"].isin(SOURCE_CLAIMS), f"claims outside {SOURCE_CLAIMS}"),
        ("source_title", (rows["source_title"].str.strip() == "") & (rows["source_url"].str.strip() == ""),
         "rows with no source"),
    ]
    for column, bad, problem in checks:
        if bad.any():
            files = sorted(set(rows.loc[bad, "file"]))
            values = [f"row {r}: {v!r}" for r, v in zip(rows.loc[bad, "row"], rows.loc[bad, column])]
            raise SourceError(", ".join(files), problem, column=column, values=values)
    rows["year"] = rows["year"].astype(int)
    return rows


def _cite(row: pd.Series) -> str:
    title = row["source_title"].strip() or row["source_url"].strip()
    date = f" ({row['source_date']})" if row.get("source_date") else ""
    url = f" <{row['source_url'].strip()}>" if row["source_url"].strip() else ""
    return f"{title}{date}{url}"


def conflicting(levels: Iterable[str]) -> bool:
    """True when some two of these levels for one CCG and year cannot both hold (see ``vocabulary.contradicts``).

    The one statement of the contradiction rule: the build and ``import-levels`` both ask it.
    """
    distinct = sorted(set(levels))
    return any(contradicts(a, b) for i, a in enumerate(distinct) for b in distinct[i + 1:])


MERGED_COLUMNS = ["ods_code", "year", "level", "source", "evidence", "claim", "n_sources"]


def merge_levels(rows: pd.DataFrame) -> pd.DataFrame:
    """One level per CCG and year from all sourced rows; agreeing rows keep all their sources.

    ``not_delegated`` agrees with joint, greater involvement and none (it says less, not something else),
    so the more specific level wins and both sources stay. Any other disagreement stops the build with
    both sources named: choosing one silently would hide a data problem. The claim is the strongest claim
    among the rows that give the chosen level.
    """
    out = []
    for (ods, year), group in rows.groupby(["ods_code", "year"], sort=True):
        group, replaced = _superseded(group)
        levels = set(group["level"])
        if conflicting(levels):
            lines = [f"{r['level']} per {_cite(r)} [{r['file']} row {r['row']}]" for _, r in group.iterrows()]
            raise SourceError(", ".join(sorted(set(group["file"]))),
                              f"contradicting levels for {ods} in {year}", column="level", values=lines)
        specific = levels - {"not_delegated"}
        level = specific.pop() if specific else "not_delegated"
        sources = list(dict.fromkeys(_cite(r) for _, r in group.iterrows())) + replaced
        evidence = "explicit" if (group["evidence"] == "explicit").any() else group["evidence"].iloc[0]
        claim = strongest_claim(group.loc[group["level"] == level, "claim"])
        out.append({"ods_code": ods, "year": int(year), "level": level, "source": " | ".join(sources),
                    "evidence": evidence, "claim": claim, "n_sources": len(sources)})
    return pd.DataFrame(out, columns=MERGED_COLUMNS)


def _superseded(group: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Rows of one CCG and year less those an official list's row supersedes (``supersedes`` = yes), and a
    note naming each row it replaced, so the replaced source stays visible beside the list."""
    if "supersedes" not in group.columns or not (group["supersedes"] == "yes").any():
        return group, []
    official = set(group.loc[group["supersedes"] == "yes", "level"])
    beaten = group.apply(lambda r: r["supersedes"] != "yes" and any(contradicts(r["level"], o) for o in official),
                         axis=1)
    notes = [f"superseded: {r['level']} per {_cite(r)}" for _, r in group[beaten].iterrows()]
    return group[~beaten], notes


def newly_authorised_2016(rows: pd.DataFrame) -> set[str]:
    """ODS codes that a source lists among the CCGs newly authorised for delegation from April 2016."""
    marked = rows["source_url"].apply(lambda u: any(m in u for m in NEWLY_AUTHORISED_MARKERS))
    hit = rows[marked & (rows["level"] == "delegated") & (rows["year"].astype(int) == 2016)]
    return set(hit["ods_code"])


def rule_delegated_persists(merged: pd.DataFrame) -> pd.DataFrame:
    """A CCG delegated in 2015/16 stays delegated in 2016/17 (NHS England, Dec 2015).

    Returns inferred rows for 2016 where no source gives a level; raises if a source says otherwise.
    """
    by = merged.set_index(["ods_code", "year"])["level"]
    delegated_2015 = [ods for (ods, year), lvl in by.items() if year == 2015 and lvl == "delegated"]
    new = []
    for ods in delegated_2015:
        current = by.get((ods, 2016))
        if current is None:
            new.append(_rule_row(ods, 2016, "delegated", RULE_DELEGATED_PERSISTS))
        elif current != "delegated":
            raise SourceError("levels", f"{ods} delegated in 2015 but {current} in 2016, against "
                              f"{RULE_DELEGATED_PERSISTS}", column="level", values=[ods])
    return pd.DataFrame(new, columns=merged.columns)


def rule_newly_authorised(merged: pd.DataFrame, newly: set[str]) -> pd.DataFrame:
    """A CCG newly authorised for April 2016 was not delegated in 2015/16 (NHS England, Dec 2015)."""
    by = merged.set_index(["ods_code", "year"])["level"]
    new = []
    for ods in sorted(newly):
        current = by.get((ods, 2015))
        if current is None:
            new.append(_rule_row(ods, 2015, "not_delegated", RULE_NEWLY_AUTHORISED))
        elif current == "delegated":
            raise SourceError("levels", f"{ods} newly authorised for 2016 but delegated in 2015, against "
                              f"{RULE_NEWLY_AUTHORISED}", column="level", values=[ods])
    return pd.DataFrame(new, columns=merged.columns)


def _rule_row(ods: str, year: int, level: str, rule: str) -> dict[str, object]:
    text, url = RULE_SOURCES[rule]
    return {"ods_code": ods, "year": year, "level": level, "source": f"{rule}: {text} <{url}>",
            "evidence": "rule", "claim": "rule", "n_sources": 1}


def resolve_levels(rows: pd.DataFrame, all_ods: Iterable[str], rules: bool = True) -> pd.DataFrame:
    """Merged sourced levels plus rule inferences, one row per CCG and year, unknown where nothing says."""
    all_ods = sorted(set(all_ods))
    merged = merge_levels(rows)
    if rules:
        inferred = [rule_delegated_persists(merged), rule_newly_authorised(merged, newly_authorised_2016(rows))]
        merged = pd.concat([merged, *[i for i in inferred if len(i)]], ignore_index=True)
    grid = pd.MultiIndex.from_product([all_ods, YEARS], names=["ods_code", "year"]).to_frame(index=False)
    full = grid.merge(merged, on=["ods_code", "year"], how="left")
    full["level"] = full["level"].fillna(UNKNOWN)
    for col in ("source", "evidence", "claim"):
        full[col] = full[col].fillna("")
    full["n_sources"] = full["n_sources"].fillna(0).astype(int)
    return full


def wide_levels(resolved: pd.DataFrame) -> pd.DataFrame:
    """level_2015, level_2016, source_2015, source_2016, evidence_*, claim_* columns keyed by ODS code."""
    wide = resolved.pivot(index="ods_code", columns="year", values=["level", "source", "evidence", "claim"])
    wide.columns = [f"{name}_{year}" for name, year in wide.columns]
    return wide.reset_index()


def levels_by_evidence(rows: pd.DataFrame, all_ods: Iterable[str]) -> pd.DataFrame:
    """For each stricter ``evidence`` choice, the level of each CCG and year from the rows it admits alone.

    Columns ``level_{year}_{choice}`` for the choices other than ``any``: only rows whose claim the choice
    keeps are merged and no rule is applied (a rule's claim is weaker than either choice), so a CCG whose
    joint level is only implied but whose 'not delegated' is stated keeps 'not delegated' under 'operating'.
    """
    all_ods = sorted(set(all_ods))
    out = pd.DataFrame({"ods_code": all_ods})
    for choice, claims in EVIDENCE_CHOICES.items():
        if choice == "any":
            continue
        kept = rows[rows["claim"].isin(claims)]
        wide = wide_levels(resolve_levels(kept, all_ods, rules=False))
        out = out.merge(wide[["ods_code", *[f"level_{y}" for y in YEARS]]].rename(
            columns={f"level_{y}": f"level_{y}_{choice}" for y in YEARS}), on="ods_code", how="left")
    return out


# --- reconciliation against published totals -----------------------------------------------------------

# Measures that count CCGs actually at a level for the year (applications and intentions are not).
IN_FORCE_MEASURES = {"approved", "confirmed", "in_operation", "in_operation_1Apr2015", "total_expected"}
SCOPE_REGION = {
    "England": None,
    "NHS England North region": "North",
    "NHS England Midlands and East region": "Midlands and East",
    "NHS England South region": "South",
    "NHS England London region": "London",
}


RECONCILIATION_COLUMNS = [
    "year", "period", "scope", "level", "published", "measure", "source_id", "atlas", "atlas_unknown",
    "atlas_not_delegated", "ccgs_in_scope", "ceiling", "still_to_find",
]


def _period_year(period: str) -> int | None:
    for year, label in PERIOD_BY_YEAR.items():
        if period.startswith(label) and "applications" not in period and "intention" not in period:
            return year
    return None


def cite_totals(rec: pd.DataFrame, total_sources: pd.DataFrame) -> pd.DataFrame:
    """``rec`` with ``source_title`` and ``source_url`` for each total's ``source_id`` (from
    :func:`geodata.sources.read_total_sources`); a source the table lacks keeps its id as title, no URL."""
    named = total_sources.set_index("source_id") if len(total_sources) else None
    out = rec.copy()
    ids = out["source_id"].astype(str)
    out["source_title"] = ids.map(named["title"]) if named is not None else ids
    out["source_title"] = out["source_title"].fillna(ids)
    out["source_url"] = ids.map(named["url"]).fillna("") if named is not None else ""
    return out


def reconcile(table: pd.DataFrame, totals: pd.DataFrame) -> pd.DataFrame:
    """Each published national or regional total for 2015/16 and 2016/17 beside the atlas's count.

    ``table`` needs region, level_2015 and level_2016. The ``ceiling`` column is the largest published
    figure for that year, scope and level: the atlas must never claim more CCGs than that.
    """
    rows = []
    for _, t in totals.iterrows():
        year = _period_year(t["period"])
        if year is None or t["scope"] not in SCOPE_REGION or t["level"] not in LEVELS:
            continue
        if t["measure"] not in IN_FORCE_MEASURES:
            continue
        try:
            count = int(t["count"])
        except ValueError:
            continue
        region = SCOPE_REGION[t["scope"]]
        scope = table if region is None else table[table["region"] == region]
        col = f"level_{year}"
        rows.append({
            "year": year, "period": PERIOD_BY_YEAR[year], "scope": region or "England", "level": t["level"],
            "published": count, "measure": t["measure"], "source_id": t["source_id"],
            "atlas": int((scope[col] == t["level"]).sum()),
            "atlas_unknown": int((scope[col] == UNKNOWN).sum()),
            "atlas_not_delegated": int((scope[col] == "not_delegated").sum()),
            "ccgs_in_scope": len(scope),
        })
    rec = pd.DataFrame(rows, columns=RECONCILIATION_COLUMNS[:-2])
    if rec.empty:  # no usable total: keep the columns, so the checks and the CSV still work
        return pd.DataFrame(columns=RECONCILIATION_COLUMNS)
    rec["ceiling"] = rec.groupby(["year", "scope", "level"])["published"].transform("max")
    rec["still_to_find"] = (rec["published"] - rec["atlas"]).clip(lower=0)
    return rec.sort_values(["year", "scope", "level", "source_id"]).reset_index(drop=True)


def check_ceilings(rec: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """Problems where the atlas claims more CCGs at a level than any published total allows.

    Also bounds the CCGs known not to be delegated: at most all CCGs less the smallest published national
    delegated count for that year.
    """
    problems = []
    for _, r in rec.drop_duplicates(["year", "scope", "level"]).iterrows():
        if r["atlas"] > r["ceiling"]:
            problems.append(f"{r['period']} {r['scope']}: atlas has {r['atlas']} {r['level']}, "
                            f"published at most {r['ceiling']}")
    for year in YEARS:
        nat = rec[(rec["year"] == year) & (rec["scope"] == "England") & (rec["level"] == "delegated")]
        if nat.empty:
            continue
        col = f"level_{year}"
        not_del = int(table[col].isin(LOWER_LEVELS | {"not_delegated"}).sum())
        room = len(table) - int(nat["published"].min())
        if not_del > room:
            problems.append(f"{PERIOD_BY_YEAR[year]} England: atlas has {not_del} CCGs not delegated, but at "
                            f"least {nat['published'].min()} of {len(table)} were delegated")
    return problems


def coverage(table: pd.DataFrame) -> dict[int, dict[str, int]]:
    """Counts per level and year, including unknown, for reports and the page."""
    return {year: {lvl: int((table[f"level_{year}"] == lvl).sum()) for lvl in VOCABULARY} for year in YEARS}
