"""What each unknown CCG could have been: per open CCG-year, the share of admissible completions at each level.

A *share* is the fraction of the admissible completions (under a prior, :data:`dashboard.completions.PRIORS`)
in which the CCG has that level that year. It follows from the published totals and the prior; it is not a
prediction and says nothing a source does not: "delegated in 61% of the histories the published totals allow".

How, under the default prior (every admissible two-year history equally likely): exact, by the sampler's own
counting. Fix the CCG-year at one level (as if it were known) and count the admissible histories with
:meth:`~dashboard.completions.CompletionSampler.count_histories`; the share is that count over the count with
the CCG-year open. The counts of a CCG-year's levels add up to the whole count (checked: an error otherwise).
CCGs of the same region, state in both years and, where an area team has a total, area-team membership are
interchangeable under the totals and the prior, so one count per class and level serves them all.

Under ``two-stage`` (2015/16 uniform, then 2016/17 uniform given it) the 2015/16 shares are exact the same way
(:meth:`~dashboard.completions.CompletionSampler.count` of 2015/16 completions); the 2016/17 shares are
estimated as the fraction of ``draws`` seeded draws (``exact`` False, ``method`` saying so; standard error at
most 0.5 / sqrt(draws)).

Pure functions of a table and totals; :func:`shares_for` caches the result on an
:class:`~dashboard.service.AtlasService` (never at module level). :func:`write_atlas_shares` writes the default
prior's shares of every evidence choice beside the atlas (``shares.csv``, :data:`geodata.table_export.SHARES_FILE`),
so that ``python -m geodata export-csv``, which cannot import this package, gives the same ``share_delegated_*``
columns as the page's CSV (both through :func:`geodata.table_export.add_shares`)::

    python -m dashboard.shares [--atlas DIR] [--ensure]   # --ensure: only when missing or of another build
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard.cli_args import beside_atlas
from dashboard.completions import CODES, PRIORS, TWO_STAGE, UNIFORM_HISTORIES, CompletionSampler
from dashboard.service import AtlasService
from geodata.table_export import SHARES_FILE
from geodata.totals import GREATER_INVOLVEMENT_OR_NONE, YEAR_LEVELS, Constraint, ccg_states
from geodata.vocabulary import EVIDENCE_CHOICES, NOT_DELEGATED, UNKNOWN

SHARE_COLUMNS = ["ods_code", "year", "level", "share", "exact", "method"]
#: Draws used to estimate shares that cannot be counted (2016/17 under the two-stage prior).
ESTIMATE_DRAWS = 4000
EXACT_METHOD = "exact: admissible completions with the CCG-year at the level, counted, over all of them"


def _options(year: int, state: str) -> tuple[str, ...]:
    """The levels an open CCG-year in this state can have (2015/16 without greater involvement / none apart)."""
    if state == NOT_DELEGATED:
        return YEAR_LEVELS[year][1:]
    return YEAR_LEVELS[year]


def _fixed_count(table: pd.DataFrame, row: int, year: int, level: str, constraints: Sequence[Constraint],
                 never: set[str], prior: str, histories: bool) -> int:
    """Admissible completions (histories, or 2015/16 completions) with one CCG-year fixed at ``level``."""
    fixed = table.copy()
    fixed.iloc[row, fixed.columns.get_loc(f"level_{year}")] = level
    try:
        s = CompletionSampler(fixed, constraints, never, prior, explain=False)
    except ValueError:  # no admissible completion has this level here (or it breaks a rule between the years)
        return 0
    return s.count_histories() if histories else s.count()


def completion_shares(table: pd.DataFrame, constraints: Sequence[Constraint],
                      never_delegated_2015: Iterable[str] = (), prior: str = UNIFORM_HISTORIES,
                      draws: int = ESTIMATE_DRAWS, seed: int = 0) -> pd.DataFrame:
    """Per open CCG-year (level unknown or only 'not delegated'), the share of admissible completions at each level.

    Returns :data:`SHARE_COLUMNS` rows: ods_code, year (2015 or 2016), level (2015/16: delegated, joint,
    greater_involvement_or_none; 2016/17: delegated, joint, greater_involvement, none), share (0 to 1; a
    CCG-year's shares add to 1), exact (counted, not estimated) and method (one sentence). Levels a CCG-year
    cannot have ('not delegated' is never delegated) are left out.

    >>> from geodata.totals import Constraint
    >>> t = pd.DataFrame({"ods_code": ["A", "B"], "region": ["North"] * 2, "level_2015": ["unknown"] * 2,
    ...                   "level_2016": ["delegated", "delegated"]})
    >>> s = completion_shares(t, [Constraint(2015, "England", "delegated", 1, 1, ("X",), "")])
    >>> s[(s["ods_code"] == "A") & (s["year"] == 2015)][["level", "share"]].values.tolist()
    [['delegated', 0.5], ['joint', 0.25], ['greater_involvement_or_none', 0.25]]
    """
    if prior not in PRIORS:
        raise ValueError(f"prior {prior!r}: choose one of {', '.join(PRIORS)}")
    never = set(never_delegated_2015)
    cols = [c for c in ("ods_code", "region", "area_team", "level_2015", "level_2016") if c in table.columns]
    base_table = (table.reset_index() if "ods_code" not in table.columns else table)[cols].reset_index(drop=True)
    base_table = base_table.astype({"level_2015": str, "level_2016": str})
    base = CompletionSampler(base_table, constraints, never, prior)
    states = ccg_states(base_table, never)
    area = states["area_team"].where(states["area_team"] == (base.area or object()), "")
    totals = {True: base.count_histories(), False: base.count()}
    estimated: np.ndarray | None = None
    rows: list[dict] = []
    classes = pd.DataFrame({"region": states["region"], "area": area, "s15": states["state_2015"],
                            "s16": states["state_2016"]})
    for year in (2015, 2016):
        state_col = "s15" if year == 2015 else "s16"
        open_rows = classes[classes[state_col].isin([UNKNOWN, NOT_DELEGATED])]
        for key, members in open_rows.groupby(["region", "area", "s15", "s16"], sort=True):
            state = key[2] if year == 2015 else key[3]
            levels = _options(year, state)
            if year == 2016 and prior == TWO_STAGE:
                if estimated is None:
                    estimated = base.draw_array(draws, seed)[:, :, 1]
                method = (f"estimated: share of {draws} seeded draws (seed {seed}); standard error at most "
                          f"{0.5 / np.sqrt(draws):.3f}")
                for row in members.index:
                    freq = np.bincount(estimated[:, row], minlength=len(CODES)) / draws
                    rows += [{"ods_code": states["ods_code"].iat[row], "year": year, "level": lvl,
                              "share": float(freq[CODES.index(lvl)]), "exact": False, "method": method}
                             for lvl in levels]
                continue
            histories = prior == UNIFORM_HISTORIES
            first = int(members.index[0])
            counts = [_fixed_count(base_table, first, year,
                                   GREATER_INVOLVEMENT_OR_NONE if lvl == GREATER_INVOLVEMENT_OR_NONE else lvl,
                                   constraints, never, prior, histories) for lvl in levels]
            if sum(counts) != totals[histories]:
                raise RuntimeError(f"internal error: the counts of {states['ods_code'].iat[first]} "
                                   f"{year} at each level do not add up to the admissible completions")
            for row in members.index:
                rows += [{"ods_code": states["ods_code"].iat[row], "year": year, "level": lvl,
                          "share": c / totals[histories], "exact": True, "method": EXACT_METHOD}
                         for lvl, c in zip(levels, counts)]
    out = pd.DataFrame(rows, columns=SHARE_COLUMNS)
    order = {lvl: i for i, lvl in enumerate(CODES)}
    return (out.assign(_o=out["level"].map(order)).sort_values(["ods_code", "year", "_o"], kind="stable")
            .drop(columns="_o").reset_index(drop=True))


def shares_json(shares: pd.DataFrame, ods_codes: Iterable[str] | None = None) -> dict[str, dict[str, dict]]:
    """``{ods_code: {"2015": {"levels": {level: share}, "exact": bool, "method": str}, ...}}`` (JSON-ready).

    Only the CCGs in ``ods_codes`` when given; shares rounded to 4 decimals.
    """
    keep = None if ods_codes is None else set(ods_codes)
    out: dict[str, dict[str, dict]] = {}
    for (ods, year), g in shares.groupby(["ods_code", "year"], sort=False):
        if keep is not None and ods not in keep:
            continue
        out.setdefault(str(ods), {})[str(year)] = {
            "levels": {str(r.level): round(float(r.share), 4) for r in g.itertuples(index=False)},
            "exact": bool(g["exact"].all()), "method": str(g["method"].iloc[0])}
    return out


def shares_for(service: AtlasService, evidence: str = "any", prior: str = UNIFORM_HISTORIES) -> pd.DataFrame:
    """:func:`completion_shares` of an atlas and evidence choice, made once per service (its ``derived`` cache).

    The table, totals and never-delegated CCGs are the ones the robustness check uses
    (:mod:`dashboard.robust.per_view`). About 1 s of CPU for the real atlas under the default prior, 2 s under
    two-stage: compute it before the workers fork if the page shows it.
    """
    from dashboard.robust.per_view import constraints_of, evidence_table, never_delegated

    return service.derived(f"shares.{evidence}.{prior}", lambda: completion_shares(
        evidence_table(service, evidence), constraints_of(service), never_delegated(service), prior))


def atlas_shares(service: AtlasService) -> pd.DataFrame:
    """The default prior's shares of every evidence choice, as written beside the atlas: :data:`SHARE_COLUMNS`
    with ``evidence`` first and the atlas's ``build_id`` last (so a file of another build is known stale)."""
    frames = [shares_for(service, evidence).assign(evidence=evidence) for evidence in EVIDENCE_CHOICES]
    out = pd.concat(frames, ignore_index=True).assign(build_id=service.build_id)
    return out[["evidence", *SHARE_COLUMNS, "build_id"]]


def current_shares_file(folder: Path, build_id: str) -> bool:
    """Whether ``folder`` holds a shares file counted for this build."""
    path = folder / SHARES_FILE
    if not path.exists():
        return False
    try:
        ids = pd.read_csv(path, usecols=["build_id"], dtype=str)["build_id"].unique()
    except (ValueError, KeyError):
        return False
    return list(ids) == [build_id]


def write_atlas_shares(service: AtlasService) -> Path:
    """Write :func:`atlas_shares` into the atlas folder (atomically: a reader never sees half a file)."""
    path = Path(service.atlas.folder) / SHARES_FILE
    tmp = path.with_name(path.name + ".part")
    atlas_shares(service).to_csv(tmp, index=False, lineterminator="\n")
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m dashboard.shares``: count the shares and write them beside the atlas; 0 done, 1 no atlas."""
    p = argparse.ArgumentParser(prog="python -m dashboard.shares", description="Write each open CCG-year's share "
                                "of admissible histories at each level beside the atlas, for export-csv.")
    args, atlas = beside_atlas(p, argv, "only when missing or counted for another build")
    if atlas is None:
        return 1
    if args.ensure and current_shares_file(Path(atlas.folder), str(atlas.build_id)):
        print(f"{Path(atlas.folder) / SHARES_FILE} is current")
        return 0
    print(f"wrote {write_atlas_shares(AtlasService(atlas))}")
    return 0


__all__ = ["ESTIMATE_DRAWS", "SHARE_COLUMNS", "atlas_shares", "completion_shares", "current_shares_file", "main",
           "shares_for", "shares_json", "write_atlas_shares"]

if __name__ == "__main__":
    sys.exit(main())
