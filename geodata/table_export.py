"""The flat CCG table a user downloads, one row per CCG, every column said in words: the one derivation behind
the page's table and its CSV, ``/export.csv``, the ZIP's data package and ``python -m geodata export-csv``.

A download must be readable without the page: each level is given as a code *and* in the page's words, with the
claim behind it, whether it is inferred, and, under a stricter evidence choice, whether a level was *set aside*
(its source is weaker than the evidence chosen) or is *unknown* because no source was found. Sources are split
into one title and one URL column each (``source_2016_1_title``, ``source_2016_1_url``, ...), so a spreadsheet
can filter and link them; the merged ``source_2016`` cell of ``../shared/CONTRACT.md`` stays beside them.

It lives in ``geodata`` (which never imports ``dashboard``) so that the command line and the page call the same
functions: the page's table rows, its details panel's source links and claim words come from here.

>>> level_status("delegated", "unknown"), level_status("unknown", "unknown"), level_status("joint", "joint")
('set_aside', 'no_source', 'known')
>>> split_sources("A (2016) <https://a.example/x> | rule:r: B <http://b.example>")
[('A (2016)', 'https://a.example/x'), ('rule:r: B', 'http://b.example')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from geodata.vocabulary import (
    CLAIM_LABEL,
    CLAIMS,
    EVIDENCE_CHOICES,
    EVIDENCE_LABEL,
    INFERRED_CLAIMS,
    LEVEL_LABEL,
    LEVEL_ORDER,
    SET_ASIDE,
    SET_ASIDE_LABEL,
    UNKNOWN,
    YEAR_LABEL,
    YEARS,
    level_column,
    strongest_claim,
)

#: What became of a CCG's level for a year under an evidence choice (the ``level_{year}_status`` column).
KNOWN, NO_SOURCE = "known", "no_source"
STATUSES: tuple[str, ...] = (KNOWN, SET_ASIDE, NO_SOURCE)
#: The words a set-aside level is shown with: not "no source found", since a source was found.
STATUS_LABEL: dict[str, str] = {
    KNOWN: "a level is known under the evidence chosen",
    SET_ASIDE: "set aside: its source is weaker than the evidence chosen",
    NO_SOURCE: "unknown: no source found",
}
#: Columns of the atlas table that every download carries, identity first (``../shared/CONTRACT.md`` names them).
IDENTITY = ["ccg_code", "ods_code", "ccg_name", "area_team", "area_team_code", "area_team_ods", "region",
            "local_office", "local_office_code", "local_office_2016", "imd_score", "imd_rank", "imd_quintile",
            "population"]
#: Atlas columns kept at the end for scripts that read them (the build's own evidence code, the levels under each
#: stricter choice, the 2013 CCG codes merged into each CCG, the label point).
TRAILING = ["evidence_2015", "evidence_2016", "level_2015_approved", "level_2016_approved", "level_2015_operating",
            "level_2016_operating", "ccg13_codes", "lon", "lat"]
URL = re.compile(r"<(https?://[^>\s]+)>")


def level_status(any_level: str, chosen_level: str) -> str:
    """``set_aside`` where a source gives a level that the evidence choice does not admit, ``no_source`` where
    none does, else ``known``: the two unknowns a reader must tell apart."""
    if chosen_level != UNKNOWN:
        return KNOWN
    return NO_SOURCE if any_level == UNKNOWN else SET_ASIDE


def level_words(level: str, status: str) -> str:
    """The level as the page words it: its label, or the set-aside wording in place of 'no source found'."""
    return SET_ASIDE_LABEL if status == SET_ASIDE else LEVEL_LABEL.get(level, level)


def split_sources(source: str) -> list[tuple[str, str | None]]:
    """'title (date) <url> | rule:...' -> [(text, url)]: the atlas's source cell, one pair per source.

    The one split of a source cell: the details panel's links and the download's source columns use it
    (``assets/grid.js`` repeats it in the browser for the table's links).
    """
    out = []
    for part in filter(None, source.split(" | ")):
        m = URL.search(part)
        out.append((URL.sub("", part).strip(), m.group(1) if m else None))
    return out


def claim_words(claim: str, source: str, year: int) -> str:
    """What the evidence behind a level amounts to, in plain words ('approved by NHS England for 2015/16')."""
    if not claim:
        return ""
    if claim == "rule":
        if "rule:delegated_persists" in source:
            return "inferred: CCGs delegated in 2015/16 stayed delegated"
        if "rule:newly_authorised" in source:
            return "inferred: newly authorised for April 2016, so not delegated in 2015/16"
        return "inferred by a stated rule"
    if claim == "approved":
        return f"approved by NHS England for {YEAR_LABEL[year]}"
    if claim == "operating":
        return f"the source states the CCG held this level in {YEAR_LABEL[year]}"
    return CLAIM_LABEL.get(claim, claim)


def source_slots(table: pd.DataFrame) -> int:
    """The most sources any CCG-year of the atlas cites: how many title/URL column pairs a download has.

    Counted over the whole atlas, not the view, so every download of one atlas has the same columns.
    """
    return max([1] + [len(split_sources(s)) for y in YEARS for s in table[f"source_{y}"]])


def _chosen_claim(row: pd.Series, year: int, evidence: str, chosen: str, level_rows: pd.DataFrame | None) -> str:
    """The strongest admitted claim behind the level shown under ``evidence``.

    Where the choice keeps the atlas's level, its claim is the atlas's (the choices admit every claim stronger
    than one they admit); where it narrows a level to 'not delegated', the strongest admitted claim among the
    rows stating 'not delegated'.
    """
    if chosen == UNKNOWN:
        return ""
    if chosen == row[f"level_{year}"] or level_rows is None or level_rows.empty:
        return str(row[f"claim_{year}"])
    rows = level_rows[(level_rows["ods_code"] == row["ods_code"]) & (level_rows["year"].astype(str) == str(year))
                      & (level_rows["level"] == chosen) & level_rows["claim"].isin(EVIDENCE_CHOICES[evidence])]
    return strongest_claim(rows["claim"]) or str(row[f"claim_{year}"])


def flat_table(table: pd.DataFrame, evidence: str = "any", level_rows: pd.DataFrame | None = None,
               slots: int | None = None) -> pd.DataFrame:
    """Every CCG's download row under an evidence choice, columns in :func:`columns` order, indexed like
    ``table`` (the atlas's CCG table; ``level_rows`` its source rows, for a level a choice narrows)."""
    if evidence not in EVIDENCE_CHOICES:
        raise ValueError(f"evidence {evidence!r}: choose one of {', '.join(EVIDENCE_CHOICES)}")
    slots = source_slots(table) if slots is None else slots
    out = table[IDENTITY].copy()
    out["evidence_choice"] = evidence
    for y in YEARS:
        chosen = table[level_column(y, evidence)].astype(str)
        status = [level_status(a, c) for a, c in zip(table[f"level_{y}"], chosen)]
        claims = [_chosen_claim(r, y, evidence, c, level_rows) for (_, r), c in zip(table.iterrows(), chosen)]
        narrowed = chosen != table[f"level_{y}"]
        out[f"level_{y}"] = chosen
        out[f"level_{y}_words"] = [level_words(c, s) for c, s in zip(chosen, status)]
        out[f"level_{y}_status"] = status
        out[f"claim_{y}"] = claims
        out[f"claim_{y}_words"] = [claim_words(c, s, y) for c, s in zip(claims, table[f"source_{y}"])]
        out[f"inferred_{y}"] = [c in INFERRED_CLAIMS for c in claims]
        out[f"set_aside_level_{y}"] = table[f"level_{y}"].where(narrowed, "")
        out[f"set_aside_claim_{y}"] = table[f"claim_{y}"].where(narrowed, "")
        out[f"source_{y}"] = table[f"source_{y}"]
        split = [split_sources(s) for s in table[f"source_{y}"]]
        for n in range(slots):
            out[f"source_{y}_{n + 1}_title"] = [p[n][0] if n < len(p) else "" for p in split]
            out[f"source_{y}_{n + 1}_url"] = [(p[n][1] or "") if n < len(p) else "" for p in split]
    for col in TRAILING:
        out[col] = table[col]
    return out[[c.name for c in columns(slots)]]


# --- what each column means (the data package's schema; also the README's table) ---------------------------


@dataclass(frozen=True)
class Column:
    """One download column: its name, Table Schema type, a short title and what it means."""

    name: str
    type: str
    title: str
    description: str
    enum: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)


def _levels_said() -> str:
    return "; ".join(f"{code} = {LEVEL_LABEL[code]}" for code in LEVEL_ORDER)


def _year_columns(y: int, slots: int) -> list[Column]:
    period = YEAR_LABEL[y]
    claims = "; ".join(f"{c} = {CLAIM_LABEL[c]}" for c in CLAIMS)
    cols = [
        Column(f"level_{y}", "string", f"Level code {period}",
               f"Co-commissioning level in {period} under this file's evidence choice (column evidence_choice), as "
               f"a code: {_levels_said()}. 'unknown' covers both a level set aside and one with no source: "
               f"level_{y}_status tells them apart.", enum=LEVEL_ORDER),
        Column(f"level_{y}_words", "string", f"Level {period}",
               f"The same level in the page's words; '{SET_ASIDE_LABEL}' where a source gives a level that the "
               "evidence choice does not admit, 'Unknown: no source found' where no source gives one.",
               enum=tuple(LEVEL_LABEL[c] for c in LEVEL_ORDER) + (SET_ASIDE_LABEL,)),
        Column(f"level_{y}_status", "string", f"Level status {period}",
               "; ".join(f"{k} = {v}" for k, v in STATUS_LABEL.items()) + ".", enum=STATUSES),
        Column(f"claim_{y}", "string", f"Claim {period}",
               f"The strongest claim behind the level shown ({claims}); empty where the level is unknown.",
               enum=CLAIMS),
        Column(f"claim_{y}_words", "string", f"Claim in words {period}",
               "The claim in the words of the page's details panel (which rule, for an inferred level); empty "
               "where the level is unknown."),
        Column(f"inferred_{y}", "boolean", f"Inferred {period}",
               "True where the level shown is inferred (claim implied, area or rule: the page marks it with a dot), "
               "False where a source states it or the level is unknown.",
               extra={"trueValues": ["True"], "falseValues": ["False"]}),
        Column(f"set_aside_level_{y}", "string", f"Level set aside {period}",
               "The level a source gives but the evidence choice sets aside (its source is weaker than the evidence "
               "chosen), where the level shown differs from it; empty otherwise.", enum=LEVEL_ORDER),
        Column(f"set_aside_claim_{y}", "string", f"Claim set aside {period}",
               "The claim behind the level set aside; empty where none is.", enum=CLAIMS),
        Column(f"source_{y}", "string", f"Sources {period} (one cell)",
               f"Every source of the {period} level in one cell as the atlas keeps it: 'title (date) <url>', "
               "several joined by ' | '; a rule of inference starts 'rule:'. The same sources, one per column "
               f"pair, follow in source_{y}_1_title, source_{y}_1_url ..."),
    ]
    for n in range(1, slots + 1):
        cols += [
            Column(f"source_{y}_{n}_title", "string", f"Source {n} {period}",
                   f"Source {n} of the {period} level as cited (title and, in brackets, its date); a rule of "
                   "inference starts 'rule:'; empty where there are fewer sources."),
            Column(f"source_{y}_{n}_url", "string", f"Source {n} URL {period}",
                   f"The address of source {n}; empty where it has none or there are fewer sources.",
                   extra={"format": "uri"}),
        ]
    return cols


#: What the downloads add after the atlas's columns: each open CCG-year's share of admissible histories delegated.
#: The dashboard's sampler counts them (``geodata`` does not import it) and writes them into the atlas folder
#: (:data:`SHARES_FILE`, by ``python -m dashboard.shares``); the page and ``export-csv`` both fill the columns
#: with :func:`add_shares`.
SHARE_COLUMNS = [f"share_delegated_{y}" for y in YEARS]
#: The shares beside an atlas: evidence, ods_code, year, level, share, exact, method, build_id (the atlas they
#: were counted for; a file of another build is stale and is not used).
SHARES_FILE = "shares.csv"


def add_shares(frame: pd.DataFrame, shares: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (download rows of one evidence choice) with ``share_delegated_{year}``: for a CCG-year whose level
    is not known under the choice (status not ``known``) and that ``shares`` lists as open, its share delegated
    (rounded to 4 decimals; 0 where it cannot be delegated); empty where the level is known.

    ``shares``: long rows ods_code, year, level, share of that evidence choice (``dashboard.shares``).

    >>> f = pd.DataFrame({"ods_code": ["A", "B"], "level_2015_status": ["no_source", "known"],
    ...                   "level_2016_status": ["known", "set_aside"]})
    >>> s = pd.DataFrame({"ods_code": ["A", "A", "B"], "year": [2015, 2015, 2016],
    ...                   "level": ["delegated", "joint", "joint"], "share": [0.61234, 0.38766, 1.0]})
    >>> add_shares(f, s)[SHARE_COLUMNS].values.tolist()
    [[0.6123, nan], [nan, 0.0]]
    """
    out = frame.copy()
    delegated = shares[shares["level"] == "delegated"]
    for year in YEARS:
        of_year = delegated[delegated["year"].astype(int) == year].set_index("ods_code")["share"].astype(float)
        of_year = of_year.round(4)
        opened = set(shares.loc[shares["year"].astype(int) == year, "ods_code"])
        out[f"share_delegated_{year}"] = [
            (float(of_year.get(ods, 0.0)) if ods in opened and status != KNOWN else None)
            for ods, status in zip(out["ods_code"], out[f"level_{year}_status"])]
    return out


def share_columns() -> list[Column]:
    """The share columns' descriptions (see :data:`SHARE_COLUMNS`)."""
    return [Column(f"share_delegated_{y}", "number", f"Share delegated {period}",
                   f"For a {period} level no source states (or one the evidence choice sets aside): the share of the "
                   "admissible two-year histories (every history that meets the published totals and the stated "
                   "rules, each equally likely) in which the CCG was delegated. A consequence of the totals, not a "
                   "prediction. Empty where the level is stated.", extra={"constraints": {"minimum": 0, "maximum": 1}})
            for y, period in YEAR_LABEL.items()]


def columns(slots: int, shares: bool = False) -> list[Column]:
    """Every column of a download with ``slots`` source column pairs per year (and the share columns when
    ``shares``), in file order."""
    evidence = "; ".join(f"{k} = {v}" for k, v in EVIDENCE_LABEL.items())
    head = [
        Column("ccg_code", "string", "GSS code", "ONS GSS code of the CCG, E38... (2015/2016 set, 209 CCGs)."),
        Column("ods_code", "string", "ODS code", "NHS ODS 3-character code of the CCG, e.g. 02N."),
        Column("ccg_name", "string", "CCG", "Official name of the CCG."),
        Column("area_team", "string", "Area team", "NHS England area team of 2013-15 (25 teams)."),
        Column("area_team_code", "string", "Area team code", "ONS E39... code of the area team."),
        Column("area_team_ods", "string", "Area team ODS code", "NHS ODS code of the area team (Q..)."),
        Column("region", "string", "Region", "NHS England region (North; Midlands and East; London; South)."),
        Column("local_office", "string", "Local office", "NHS England local office of 2015/16 (13)."),
        Column("local_office_code", "string", "Local office code", "NHS ODS code of the local office."),
        Column("local_office_2016", "string", "Local office 2016/17",
               "NHS England local office from 1 April 2016 (14: Lancashire and Greater Manchester split)."),
        Column("imd_score", "number", "IMD score", "IMD 2015 CCG average score; higher is more deprived."),
        Column("imd_rank", "integer", "IMD rank", "Rank of the IMD score, 1 = most deprived of 209."),
        Column("imd_quintile", "integer", "IMD quintile", "Quintile among CCGs, 1 = most deprived.",
               extra={"constraints": {"minimum": 1, "maximum": 5}}),
        Column("population", "integer", "Population", "ONS mid-2015 population estimate."),
        Column("evidence_choice", "string", "Evidence choice",
               f"Which claims the levels of this file admit ({evidence}); a level resting on a weaker claim is "
               "set aside, shown as unknown with status set_aside.", enum=tuple(EVIDENCE_CHOICES)),
    ]
    tail = [
        *[Column(f"evidence_{y}", "string", f"Evidence kind {period}",
                 f"The build's coarse evidence code for the {period} level (any evidence choice): explicit, "
                 "dated_document, imported or rule; empty where unknown.") for y, period in YEAR_LABEL.items()],
        *[Column(f"level_{y}_{choice}", "string", f"Level code {YEAR_LABEL[y]}, {choice} only",
                 f"The {YEAR_LABEL[y]} level from the sources whose claim the '{choice}' choice admits "
                 f"({EVIDENCE_LABEL[choice]}), whatever this file's choice.", enum=LEVEL_ORDER)
          for choice in ("approved", "operating") for y in YEARS],
        Column("ccg13_codes", "string", "2013 CCG codes", "GSS codes of the 2013 CCGs the CCG covers, ';'-separated."),
        Column("lon", "number", "Longitude", "Label point longitude (WGS84)."),
        Column("lat", "number", "Latitude", "Label point latitude (WGS84)."),
    ]
    return head + [c for y in YEARS for c in _year_columns(y, slots)] + tail + (share_columns() if shares else [])
