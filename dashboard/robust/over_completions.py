"""Each statistic over the admissible completions of one view: the pure entry point, robust_statistics."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dashboard import analysis
from dashboard.analysis import NotRun, PermutationTables
from dashboard.clustering_readings import why_not_run
from dashboard.completions import CompletionSampler
from dashboard.robust.extremes import _climb, _exact_delegation
from dashboard.robust.results import CompletionSummary, Extreme, KnownOnly, RobustResult, StatisticResult
from dashboard.robust.specs import _Difference, _Eval, _pairs, _Problem, _Spec, _specs, swap_groups
from dashboard.robust.terms import (
    _BINARY,
    _FULL,
    ALPHA,
    KNOWN_PERMUTATIONS,
    KNOWN_SEED,
    LABELS,
    PERMUTATIONS,
    RESTARTS,
    STATISTICS,
)
from dashboard.robust.words import _verdict, finding
from geodata.totals import Constraint, ccg_states
from geodata.vocabulary import NOT_DELEGATED, UNKNOWN


def _summary(evals: list[_Eval], n_ccgs: int, agree: np.ndarray) -> CompletionSummary:
    ran = [e for e in evals if e.reason is None]
    reasons: dict[str, int] = {}
    for e in evals:
        if e.reason is not None:
            reasons[e.reason] = reasons.get(e.reason, 0) + 1
    if not ran:
        nan = math.nan
        return CompletionSummary(0, n_ccgs, nan, nan, nan, nan, nan, nan, nan, len(evals), reasons, nan)
    v = np.array([e.value for e in ran])
    p = np.array([e.p for e in ran])
    q = np.percentile(v, [50, 5, 95])
    qp = np.percentile(p, [50, 5, 95])
    return CompletionSummary(len(ran), n_ccgs, float(q[0]), float(q[1]), float(q[2]), float(qp[0]), float(qp[1]),
                             float(qp[2]), float((p < ALPHA).mean()), len(evals) - len(ran), reasons,
                             float(agree.mean()) if len(agree) else math.nan)


def _agrees(e: _Eval, known: KnownOnly, directional: bool) -> bool:
    if e.reason is not None or known.significant is None:
        return False
    sig = e.p < ALPHA
    return sig == known.significant and not (directional and sig and e.sign != known.direction)


@dataclass(frozen=True, eq=False)
class _Candidate:
    eval: _Eval
    score: float
    found_by: str
    draw: int | None = None
    who: np.ndarray | None = None


def _pick(cands: list[_Candidate], low: bool) -> _Candidate | None:
    ran = [c for c in cands if c.eval.reason is None]
    if not ran:
        return None

    def key(c: _Candidate) -> tuple[float, float, int]:
        score = c.score if math.isfinite(c.score) else -math.inf
        exact = int(c.found_by == "exact")
        return (c.eval.p, -score, -exact) if low else (-c.eval.p, score, -exact)

    return min(ran, key=key)


def _searched(spec: _Spec, prob: _Problem, fmap: np.ndarray, evals: list[_Eval], scores: np.ndarray,
              rng: np.random.Generator) -> list[_Candidate]:
    """End points of the climbs, down and up, from the most extreme draws and one other draw each way."""
    ran = [i for i, e in enumerate(evals) if e.reason is None]
    if not ran or not len(prob.pair_i):
        return []
    p = np.array([evals[i].p for i in ran])
    s = np.nan_to_num(scores[ran], nan=-np.inf)
    out = []
    for direction in (1, -1):
        if (direction == 1 and p.min() <= spec.floor + 1e-12) or (direction == -1 and p.max() >= 1 - 1e-12):
            continue  # the p-value cannot go further that way
        order = np.lexsort((-s, p)) if direction == 1 else np.lexsort((s, -p))
        starts = [ran[i] for i in order[: RESTARTS - 1]]
        rest = [ran[i] for i in order[RESTARTS - 1:]]
        if rest:
            starts.append(rest[int(rng.integers(len(rest)))])
        for d in dict.fromkeys(starts):
            f, who = _climb(spec, fmap[prob.labels[d]], prob, direction, rng)
            lab = f[spec.positions]
            out.append(_Candidate(spec.evaluate(lab), float(spec.score(lab[None, :])[0]), "search", d, who))
    return out


def _extreme(c: _Candidate | None, prob: _Problem) -> Extreme | None:
    if c is None:
        return None
    levels = None
    if c.draw is not None:
        levels = prob.completion(c.draw, c.who if c.who is not None else np.arange(prob.codes.shape[1]))
    return Extreme(c.eval.value, c.eval.p, c.found_by, c.found_by == "exact", levels)


def _one(spec: _Spec, known: KnownOnly, prob: _Problem, sampler: CompletionSampler, seed: int) -> StatisticResult:
    fmap = _BINARY if spec.binary else _FULL[prob.year]
    labs = fmap[prob.labels][:, spec.positions]
    evals = [spec.evaluate(lab) for lab in labs]
    scores = spec.score(labs) if len(labs) and spec.n else np.full(len(labs), np.nan)
    tested = np.array([e.reason is None for e in evals], dtype=bool)
    agree = np.array([_agrees(e, known, spec.directional) for e, t in zip(evals, tested)
                      if t and known.significant is not None], dtype=bool)
    rng = np.random.default_rng([int(seed), STATISTICS.index(spec.name)])
    cands = [_Candidate(e, float(sc), "search", d) for d, (e, sc) in enumerate(zip(evals, scores))]
    cands += _searched(spec, prob, fmap, evals, scores, rng)
    exact = _exact_delegation(sampler, spec, prob.order) if isinstance(spec, _Difference) and prob.year == 2015 \
        else None
    bounds = None
    if exact is not None:
        found = [_Candidate(spec.evaluate(lab), float(spec.score(lab[None, :])[0]), "exact")
                 for lab in (*exact.z, *exact.diff)]
        cands += [c for c in found if c.eval.reason is None]
        bounds = (found[2], found[3])
    low, high = _pick(cands, low=True), _pick(cands, low=False)
    extra = [c for c in cands[len(evals):] if c.eval.reason is None]
    extremes_agree = all(_agrees(c.eval, known, spec.directional) for c in [low, high, *extra] if c is not None)
    summary = _summary(evals, spec.n, agree)
    span = (low.eval.p, high.eval.p) if low is not None and high is not None else None
    verdict = _verdict(known, summary, extremes_agree, span, len(evals))
    return StatisticResult(
        name=spec.name, label=LABELS[spec.name], finding=finding(spec.name, known), known_only=known,
        completions=summary, low=_extreme(low, prob), high=_extreme(high, prob), verdict=verdict,
        exact_range=None if bounds is None or any(c.eval.reason for c in bounds) else (
            _extreme(bounds[0], prob), _extreme(bounds[1], prob)),
        values=tuple(e.value for e in evals), p_values=tuple(e.p for e in evals))


def _known_only(summary: analysis.Summary) -> dict[str, KnownOnly]:
    """The panel's values for each statistic, with p and the reason when not run."""
    def make(value: float, p: float, n: int, why: NotRun | None, view: str, direction: int = 0,
             subject: str = "CCGs of known level") -> KnownOnly:
        if why is not None:
            return KnownOnly(float(value), math.nan, int(n), why.reason, None, 0, why_not_run(why, view, subject))
        return KnownOnly(float(value), float(p), int(n), None, bool(p < ALPHA), direction)

    f, b, d = summary.full, summary.binary, summary.deprivation
    dep_n = d.n_delegated + d.n_not_delegated
    subject = "CCGs of known level with an IMD score" if d.n_missing_imd else "CCGs of known level"
    sign = int(np.sign(d.diff)) if math.isfinite(d.diff) else 0
    return {
        "join_counts.full": make(f.join_counts.total_observed, f.join_counts.total_p_cluster,
                                 f.join_counts.coverage.n_used, f.join_counts.not_run, "full"),
        "join_counts.binary": make(b.join_counts.total_observed, b.join_counts.total_p_cluster,
                                   b.join_counts.coverage.n_used, b.join_counts.not_run, "binary"),
        "concordance.full": make(f.concordance.cramers_v, f.concordance.p_value, f.concordance.coverage.n_used,
                                 f.concordance.not_run, "full"),
        "concordance.binary": make(b.concordance.cramers_v, b.concordance.p_value, b.concordance.coverage.n_used,
                                   b.concordance.not_run, "binary"),
        "deprivation.binary": make(d.diff, d.diff_p_two_sided, dep_n, d.diff_not_run, "binary", sign, subject),
        "deprivation.full": make(d.kruskal_h, d.kruskal_p, dep_n, d.kruskal_not_run, "full", 0, subject),
    }


# --- the pure entry point -----------------------------------------------------------------------------------


def _levels_table(table: pd.DataFrame) -> pd.DataFrame:
    need = ["ods_code", "region", "area_team", "imd_score", "level_2015", "level_2016"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise ValueError(f"table needs columns {need}: missing {missing}")
    if table["ods_code"].duplicated().any():
        raise ValueError("table has duplicate ods_code values")
    out = table.copy()
    out.index = out.index.map(str)
    return out


def _draws_in_table_order(table: pd.DataFrame, sampler: CompletionSampler, draws: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    """The draws (draws, CCGs, 2) with CCGs in table order, and the table row of each sampler CCG."""
    pos = {str(o): i for i, o in enumerate(table["ods_code"].astype(str))}
    if sorted(pos) != sorted(map(str, sampler.ods_codes)):
        raise ValueError("the sampler was built for other CCGs than the table's")
    order = np.array([pos[str(o)] for o in sampler.ods_codes], dtype=np.intp)
    codes = np.empty((draws.shape[0], len(table), 2), dtype=np.int8)
    codes[:, order, :] = draws
    return codes, order


def robust_statistics(
    table: pd.DataFrame,
    neighbours: Mapping[str, Sequence[str]],
    constraints: Sequence[Constraint],
    year: int,
    *,
    mask: np.ndarray | None = None,
    never_delegated_2015: Iterable[str] = (),
    completions: int = 200,
    seed: int = 1,
    permutations: int = PERMUTATIONS,
    evidence: str = "any",
    description: str = "England",
    filters: Mapping[str, Any] | None = None,
    sampler: CompletionSampler | None = None,
    draws: np.ndarray | None = None,
    tables: PermutationTables | None = None,
    known_tables: PermutationTables | None = None,
) -> RobustResult:
    """Every statistic of the clustering panel for one view, on the known CCGs and over admissible completions.

    Parameters
    ----------
    table : DataFrame indexed by CCG code with ods_code, region, area_team, imd_score, level_2015, level_2016
        (levels as the evidence choice admits them, others ``unknown``) and optionally population.
    neighbours : CCG code -> neighbouring codes.
    constraints : published totals (:func:`geodata.totals.read_constraints`).
    year : 2015 or 2016.
    mask : boolean per row of ``table``: the filter (default: every CCG).
    never_delegated_2015 : ODS codes newly authorised for April 2016.
    completions, seed : how many completions to draw and the seed of the draws, search and relabellings.
    permutations : relabellings per completion.
    sampler, draws, tables, known_tables : the caller's cached sampler, ``sampler.draw_array(completions,
        seed)``, and relabelling stores (made here when None).

    Returns
    -------
    RobustResult

    Examples
    --------
    >>> codes = [f"E{i:02d}" for i in range(8)]
    >>> t = pd.DataFrame({"ods_code": codes, "region": ["North"] * 8, "area_team": ["A"] * 4 + ["B"] * 4,
    ...                   "imd_score": [30.0, 28, 26, 24, 12, 10, 8, 6],
    ...                   "level_2015": ["joint"] * 8, "level_2016": ["delegated"] * 3 + ["unknown"] + ["joint"] * 4},
    ...                  index=codes)
    >>> nb = {c: [d for d in codes if abs(int(c[1:]) - int(d[1:])) == 1] for c in codes}
    >>> cs = [Constraint(2016, "England", "delegated", 4, 4, ("X",), "")]
    >>> r = robust_statistics(t, nb, cs, 2016, completions=20)
    >>> r.statistic("deprivation.binary").completions.median
    18.0
    >>> r.statistic("deprivation.binary").low.found_by
    'search'
    """
    table = _levels_table(table)
    mask = np.ones(len(table), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != (len(table),):
        raise ValueError("mask must have one entry per row of table")
    never = set(never_delegated_2015)
    sampler = sampler if sampler is not None else CompletionSampler(table, constraints, never)
    draws = draws if draws is not None else sampler.draw_array(int(completions), int(seed))
    tables = tables if tables is not None else PermutationTables(max_entries=2)
    known = analysis.summarise(
        table[f"level_{year}"], neighbours, table["area_team"], table["imd_score"],
        table["population"] if "population" in table.columns else None, mask=mask, year=year,
        permutations=KNOWN_PERMUTATIONS, seed=KNOWN_SEED,
        tables=known_tables if known_tables is not None else PermutationTables(max_entries=2))
    codes, order = _draws_in_table_order(table, sampler, draws)
    states = ccg_states(table, never)
    area = getattr(sampler, "area", None)
    if area is not None:  # an area team with a total (Surrey and Sussex): its CCGs swap only among themselves
        states["region"] = states["region"].where(states["area_team"] != area, states["region"] + " | " + area)
    pair_i, pair_j = _pairs(swap_groups(states, table))
    prob = _Problem(year, _specs(table, neighbours, mask, tables, int(permutations), int(seed)), codes,
                    pair_i, pair_j, order, table["ods_code"].astype(str).to_numpy())
    known_only = _known_only(known)
    stats = tuple(_one(spec, known_only[spec.name], prob, sampler, int(seed)) for spec in prob.specs)
    given = table.loc[mask, f"level_{year}"].astype(str)
    counts = {"n_selected": int(mask.sum()), "n_known": int((given != UNKNOWN).sum()),
              "n_unknown": int((given == UNKNOWN).sum()), "n_not_delegated": int((given == NOT_DELEGATED).sum())}
    return RobustResult(year=int(year), evidence=evidence, description=description, filters=dict(filters or {}),
                        **counts, completions=int(draws.shape[0]), seed=int(seed), permutations=int(permutations),
                        known_permutations=KNOWN_PERMUTATIONS, statistics=stats)
