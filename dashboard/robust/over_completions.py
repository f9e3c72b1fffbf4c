"""Each statistic over the admissible completions of one view: the pure entry point, robust_statistics.

Every completion of a statistic is evaluated at once (issue 19, "cheaper, not dearer"): the draws are one
(draws, CCGs) array of labels, :meth:`~dashboard.robust.specs._Spec.evaluate_all` gives every row's value, p
(one null distribution per count vector, :mod:`~dashboard.robust.exact`) and reason at once, and the draws'
lowest and highest p are chosen with numpy (:func:`_best_row`, the same choice as the loop over candidates).
No step makes a Python candidate or evaluation per draw.

A new statistic plugs in without touching this module: a :class:`~dashboard.robust.specs._Spec` subclass
(name in ``terms.STATISTICS``, ``LABELS`` and ``MEASURES``; made in ``specs._specs``) with

* ``stat(batch)``: the test statistic of every row of a (rows, CCGs) label array, larger = more extreme, with
  numpy over the rows (it is called on the draws and on thousands of relabellings at once);
* ``score(batch)``: a smooth version for the search (NaN where the test cannot run), also over rows;
* optionally ``value`` (what is reported, default ``stat``), ``signs`` (for a directional test), ``tolerance``
  and ``check`` (reasons not to run that depend on a row only through whether it has one level; a ``check``
  that looks further into a row must override ``check_all`` too);

and a known-only entry in :func:`_known_only`. A statistic on IMD or population alike can reuse ``_Difference``
or ``_Kruskal`` with another ``x``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from dashboard import analysis
from dashboard.analysis import NotRun, PermutationTables
from dashboard.analysis.size import SizeResult
from dashboard.completions import CompletionSampler
from dashboard.robust.exact import MARGIN_SE, Relabellings
from dashboard.robust.extremes import _climb, _exact_delegation, difference_proof
from dashboard.robust.proof import admissible_restricted
from dashboard.robust.results import CompletionSummary, Extreme, KnownOnly, RobustResult, StatisticResult
from dashboard.robust.specs import Evals, _Difference, _Eval, _pairs, _Problem, _Spec, _specs, swap_groups
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
from dashboard.robust.words import Evidence, _verdict, finding, wilson
from dashboard.wording import why_not_run
from geodata.totals import Constraint, ccg_states
from geodata.vocabulary import DELEGATED, LEVELS, NOT_DELEGATED, UNKNOWN

T = TypeVar("T")
_LEVEL_INDEX = {lv: i for i, lv in enumerate(LEVELS)}
#: When the seeded draws leave the verdict between "most" and "depends", it is decided on EXTENDED completions
#: drawn with one fixed seed instead, the same whatever seed was asked for: near one half, a decision made on
#: seeded draws would move with the seed (issue 19 counted 3 of 10 seeds flipping London 2015/16).
EXTENDED, EXTENSION_SEED = 2000, 0


def _agree_rows(ev: Evals, known: KnownOnly, directional: bool) -> np.ndarray:
    """Per completion: does it say what the known CCGs say? A completion that cannot be tested shows no
    difference, so it agrees with "no evidence" and not with a significant finding."""
    sig = ev.tested & (np.nan_to_num(ev.p, nan=1.0) < ALPHA)
    if known.significant:
        return sig & ((ev.sign == known.direction) if directional else True)
    return ~sig


def _summary(ev: Evals, n_ccgs: int, agree: np.ndarray) -> CompletionSummary:
    tested = ev.tested
    reasons: dict[str, int] = {}
    for r in ev.reason:
        if r is not None:
            reasons[r] = reasons.get(r, 0) + 1
    n_all = len(ev)
    n_agree = int(agree.sum()) if len(agree) else 0
    lo, hi = wilson(n_agree, n_all) if n_all else (math.nan, math.nan)
    sig = int((tested & (np.nan_to_num(ev.p, nan=1.0) < ALPHA)).sum())
    extra = {"n_draws": n_all, "n_significant": sig, "n_agree": n_agree, "agree_interval": (lo, hi),
             "n_exact": int((ev.exact & tested).sum()),
             "mc_error_max": float(np.nanmax(ev.se[tested])) if tested.any() else math.nan}
    if not tested.any():
        nan = math.nan
        return CompletionSummary(0, n_ccgs, nan, nan, nan, nan, nan, nan, nan, n_all, reasons,
                                 n_agree / n_all if n_all else nan, **extra)
    v, p = ev.value[tested], ev.p[tested]
    q = np.percentile(v, [50, 5, 95])
    qp = np.percentile(p, [50, 5, 95])
    return CompletionSummary(int(tested.sum()), n_ccgs, float(q[0]), float(q[1]), float(q[2]), float(qp[0]),
                             float(qp[1]), float(qp[2]), float((p < ALPHA).mean()), n_all - int(tested.sum()),
                             reasons, n_agree / n_all, **extra)


def _close(ev: Evals) -> np.ndarray:
    """Rows whose Monte Carlo p is within its margin of 0.05: neither side is decided, so none is a
    counterexample (they are still counted, on the side their estimate falls)."""
    return ev.tested & ~ev.exact & (np.abs(np.nan_to_num(ev.p, nan=1.0) - ALPHA) <= (MARGIN_SE + 1) * ev.se)


def _agrees(e: _Eval, known: KnownOnly, directional: bool) -> bool:
    """Whether a completion does not contradict the known CCGs (a p within Monte Carlo error of 0.05 does not)."""
    if known.significant is None:
        return False
    if e.reason is None and not e.exact and abs(e.p - ALPHA) <= (MARGIN_SE + 1) * e.se and \
            not (directional and known.significant and e.sign != known.direction):
        return True
    sig = e.reason is None and e.p < ALPHA
    if known.significant:
        return sig and not (directional and e.sign != known.direction)
    return not sig


@dataclass(frozen=True, eq=False)
class _Candidate:
    eval: _Eval
    score: float
    found_by: str
    draw: int | None = None
    who: np.ndarray | None = None


def _pick(cands: list[_Candidate], low: bool) -> _Candidate | None:
    """The candidate with the lowest (``low``) or highest p, ties to the stronger score, then an exact one, then
    the first listed."""
    ran = [c for c in cands if math.isfinite(c.eval.p)]
    if not ran:
        return None

    def key(c: _Candidate) -> tuple[float, float, int]:
        score = c.score if math.isfinite(c.score) else -math.inf
        exact = int(c.found_by == "exact")
        return (c.eval.p, -score, -exact) if low else (-c.eval.p, score, -exact)

    return min(ran, key=key)


def _best_row(ev: Evals, scores: np.ndarray, low: bool) -> int | None:
    """The row :func:`_pick` would choose among candidates made of every row of ``ev`` in order (scores
    ``scores``, none exact), found with numpy at once: a stable sort keeps the first of equal keys, as ``min``
    does."""
    ran = np.flatnonzero(np.isfinite(ev.p))
    if not len(ran):
        return None
    p = ev.p[ran]
    s = np.where(np.isfinite(scores[ran]), scores[ran], -np.inf)
    order = np.lexsort((-s, p)) if low else np.lexsort((s, -p))
    return int(ran[order[0]])


def _searched(spec: _Spec, prob: _Problem, fmap: np.ndarray, ev: Evals, scores: np.ndarray,
              rng: np.random.Generator, directions: tuple[int, ...]) -> tuple[list[_Candidate], int]:
    """End points of the climbs (+1: towards stronger evidence, lower p; -1: weaker) from the most extreme
    draws and one other draw; and how many swaps were tried."""
    ran = [i for i in range(len(ev)) if math.isfinite(ev.p[i])]
    if not ran or not len(prob.pair_i) or not directions:
        return [], 0
    p = ev.p[ran]
    s = np.nan_to_num(scores[ran], nan=-np.inf)
    out, tried = [], 0
    for direction in directions:
        if direction == -1 and p.max() >= 1 - 1e-12:
            continue  # the p-value cannot go further that way
        order = np.lexsort((-s, p)) if direction == 1 else np.lexsort((s, -p))
        starts = [ran[i] for i in order[: RESTARTS - 1]]
        rest = [ran[i] for i in order[RESTARTS - 1:]]
        if rest:
            starts.append(rest[int(rng.integers(len(rest)))])
        for d in dict.fromkeys(starts):
            f, who, n = _climb(spec, fmap[prob.labels[d]], prob, direction, rng)
            tried += n
            lab = f[spec.positions]
            out.append(_Candidate(spec.evaluate(lab), float(spec.score(lab[None, :])[0]), "search", d, who))
    return out, tried


def _extreme(c: _Candidate | None, prob: _Problem, exact: bool = False) -> Extreme | None:
    if c is None:
        return None
    levels = None
    if c.draw is not None:
        levels = prob.completion(c.draw, c.who if c.who is not None else np.arange(prob.codes.shape[1]))
    return Extreme(c.eval.value, c.eval.p, c.found_by, exact or c.found_by == "exact", levels, c.eval.se)


@dataclass(frozen=True)
class _Proof:
    """What was established for every admissible completion: ``holds`` True / False / None (undecided), the
    exact lowest and highest p (``low``, ``high``; None when not known), how (``by``) and over how many."""

    holds: bool | None
    low: _Candidate | None
    high: _Candidate | None
    by: str
    n: int
    counter: _Candidate | None = None


def _enumeration_proof(spec: _Spec, known: KnownOnly, fmap: np.ndarray, enumerated: np.ndarray) -> _Proof:
    labs = fmap[np.clip(enumerated, 0, None)][:, spec.positions]
    ev = spec.evaluate_all(labs, precise=True)
    agree = _agree_rows(ev, known, spec.directional)

    def listed(i: int | None) -> _Candidate | None:
        return None if i is None else _Candidate(ev.row(i), math.nan, "enumeration")

    unscored = np.full(len(ev), np.nan)
    low, high = listed(_best_row(ev, unscored, low=True)), listed(_best_row(ev, unscored, low=False))
    if not agree.all():
        bad = np.flatnonzero(~agree)  # the worst: lowest p against "no evidence", highest against a finding
        worst = bad[int(np.argmin(ev.p[bad] if not known.significant else -np.nan_to_num(ev.p[bad], nan=1.0)))]
        return _Proof(False, low, high, "enumeration", len(ev), listed(int(worst)))
    close = ev.tested & (np.abs(ev.p - ALPHA) <= MARGIN_SE * ev.se) & ~ev.exact
    return _Proof(None if close.any() else True, low, high, "enumeration", len(ev))


@dataclass(frozen=True, eq=False)
class _Draws:
    """One statistic over the seeded draws, every draw at once: the map from sampler codes to the statistic's
    labels, the evaluations, smooth scores, which draws agree with the known CCGs and which are firm (no
    decided disagreement)."""

    fmap: np.ndarray
    ev: Evals
    scores: np.ndarray
    agree: np.ndarray
    firm: np.ndarray

    def best(self, low: bool) -> list[_Candidate]:
        """The draw :func:`_pick` would choose among all of them, as a one-candidate list (empty: none ran)."""
        row = _best_row(self.ev, self.scores, low)
        return [] if row is None else [_Candidate(self.ev.row(row), float(self.scores[row]), "search", row)]


def _over_draws(spec: _Spec, known: KnownOnly, prob: _Problem) -> _Draws:
    fmap = _BINARY if spec.binary else _FULL[prob.year]
    labs = fmap[prob.labels][:, spec.positions]
    ev = spec.evaluate_all(labs)
    scores = spec.score(labs) if len(labs) and spec.n else np.full(len(labs), np.nan)
    agree = _agree_rows(ev, known, spec.directional) if known.significant is not None else np.zeros(0, bool)
    firm = agree | _close(ev) if len(agree) else agree  # no decided disagreement
    if len(agree) and spec.directional and known.significant:
        firm = agree | (_close(ev) & (ev.sign == known.direction))
    return _Draws(fmap, ev, scores, agree, firm)


def _exact_found(spec: _Spec, prob: _Problem, sampler: CompletionSampler
                 ) -> tuple[list[_Candidate], tuple[_Candidate, _Candidate] | None]:
    """The exact extremes of the 2015/16 difference in mean IMD (testable ones compete for the extremes) and
    the extreme differences (the "exact range"); nothing for another statistic or year."""
    exact = _exact_delegation(sampler, spec, prob.order) if isinstance(spec, _Difference) and prob.year == 2015 \
        else None
    if exact is None:
        return [], None
    found = [_Candidate(spec.evaluate(lab), float(spec.score(lab[None, :])[0]), "exact")
             for lab in (*exact.z, *exact.diff)]
    return [c for c in found if c.eval.reason is None], (found[2], found[3])


def _prove(spec: _Spec, known: KnownOnly, prob: _Problem, sampler: CompletionSampler, d: _Draws,
           others: list[_Candidate], enumerate_once: Callable[[], np.ndarray | None]) -> _Proof | None:
    """A proof is sought only where nothing drawn or searched contradicts the known CCGs: it can then only turn
    "no counterexample" into "holds" (or find the counterexample). By listing every admissible completion, else
    (2015/16 difference in mean IMD) by the regional programme."""
    if known.significant is None:
        return None
    candidate = bool(d.firm.all()) and all(
        _agrees(c.eval, known, spec.directional) for c in others if math.isfinite(c.eval.p))
    enumerated = enumerate_once() if candidate else None
    if enumerated is not None:
        return _enumeration_proof(spec, known, d.fmap, enumerated)
    if isinstance(spec, _Difference) and prob.year == 2015:
        dp = difference_proof(sampler, spec, prob.order, bool(known.significant), known.direction)
        if dp is not None:
            return _Proof(dp.holds, _Candidate(dp.low[1], math.nan, "exact"),
                          None if dp.high is None else _Candidate(dp.high[1], math.nan, "exact"),
                          "optimisation", dp.counts,
                          None if dp.counter is None else _Candidate(dp.counter[1], math.nan, "exact"))
    return None


def _extended(spec: _Spec, known: KnownOnly, d: _Draws, low: _Candidate | None, high: _Candidate | None,
              proof: _Proof | None, more_draws: Callable[[], np.ndarray | None]
              ) -> tuple[Evals, np.ndarray, _Candidate | None, _Candidate | None]:
    """Where the draws cannot tell "most" from "depends" (the 95% interval of the share that agrees contains one
    half), the fixed-seed extension decides: its evaluations and agreement, and its own lowest and highest p
    compete for the extremes (not exact ones), so the extremes still bracket every p the summary reports."""
    if not len(d.agree):
        return d.ev, d.agree, low, high
    lo, hi = wilson(int(d.agree.sum()), len(d.agree))
    extra = more_draws() if lo <= 0.5 <= hi else None
    if extra is None or not len(extra):
        return d.ev, d.agree, low, high
    ev_all = spec.evaluate_all(d.fmap[extra][:, spec.positions])
    agree_all = _agree_rows(ev_all, known, spec.directional)
    ran = np.flatnonzero(np.isfinite(np.asarray(ev_all.p, dtype=float)))
    if len(ran):
        ps = np.asarray(ev_all.p, dtype=float)[ran]
        ends = [_Candidate(ev_all.row(int(ran[i])), math.nan, "draw") for i in (ps.argmin(), ps.argmax())]
        if not (proof is not None and proof.low is not None):
            low = _pick([c for c in (low, *ends) if c is not None], low=True)
        if not (proof is not None and proof.high is not None):
            high = _pick([c for c in (high, *ends) if c is not None], low=False)
    return ev_all, agree_all, low, high


def _one(spec: _Spec, known: KnownOnly, prob: _Problem, sampler: CompletionSampler, seed: int,
         enumerate_once: Callable[[], np.ndarray | None],
         more_draws: Callable[[], np.ndarray | None] = lambda: None) -> StatisticResult:
    """One statistic over the completions: draws, search, exact extremes, proof, extension, verdict."""
    d = _over_draws(spec, known, prob)
    rng = np.random.default_rng([int(seed), STATISTICS.index(spec.name)])
    # the search looks for a counterexample only where every draw agrees with the known CCGs (otherwise the
    # draws already decide the verdict): towards weaker evidence for a significant finding, stronger otherwise
    directions = () if known.significant is None or not d.firm.all() else ((-1,) if known.significant else (1,))
    others, swaps = _searched(spec, prob, d.fmap, d.ev, d.scores, rng, directions)
    found, bounds = _exact_found(spec, prob, sampler)
    others += found
    proof = _prove(spec, known, prob, sampler, d, others, enumerate_once)
    low, high = _pick(d.best(True) + others, low=True), _pick(d.best(False) + others, low=False)
    low_exact, high_exact = proof is not None and proof.low is not None, proof is not None and proof.high is not None
    low, high = proof.low if low_exact else low, proof.high if high_exact else high
    extra = others + ([proof.counter] if proof is not None and proof.counter is not None else [])
    counter = next((c for c in [low, high, *extra] if c is not None and not _agrees(c.eval, known, spec.directional)),
                   None) if known.significant is not None else None
    ev_all, agree_all, low, high = _extended(spec, known, d, low, high, proof, more_draws)
    summary = _summary(ev_all, spec.n, agree_all)
    verdict = _verdict(known, summary, Evidence(
        undecided=int((d.firm & ~d.agree).sum()) if len(d.agree) else 0,
        firm=bool(d.firm.all()) if len(d.agree) else False,
        proof=None if proof is None else proof.holds, proof_by=None if proof is None else proof.by,
        proof_n=0 if proof is None else proof.n, counter=None if counter is None else counter.eval.p,
        swaps=swaps, low=None if low is None else low.eval.p, high=None if high is None else high.eval.p,
        low_exact=low_exact, high_exact=high_exact))
    return StatisticResult(
        name=spec.name, label=LABELS[spec.name], finding=finding(spec.name, known), known_only=known,
        completions=summary, low=_extreme(low, prob, low_exact), high=_extreme(high, prob, high_exact),
        verdict=verdict, exact_range=None if bounds is None or any(c.eval.reason for c in bounds) else (
            _extreme(bounds[0], prob), _extreme(bounds[1], prob)),
        values=tuple(float(v) for v in ev_all.value), p_values=tuple(float(v) for v in ev_all.p),
        swaps=swaps, proof=None if proof is None else {
            "by": proof.by, "admissible": proof.n, "holds": proof.holds})


def _known_only(summary: analysis.Summary, precise: dict[str, _Eval]) -> dict[str, KnownOnly]:
    """The panel's values for each statistic, with its precise p (exact where the relabellings can be listed),
    the smallest attainable p, and the reason when not run (``cannot_reject``: no labelling could give p < 0.05).
    """
    def make(name: str, value: float, n: int, why: NotRun | None, view: str, direction: int = 0,
             subject: str = "CCGs of known level") -> KnownOnly:
        if why is not None:
            return KnownOnly(float(value), math.nan, int(n), why.reason, None, 0, why_not_run(why, view, subject))
        e = precise[name]
        if e.reason == "cannot_reject":
            words = (f"no labelling of these {n} {subject} could give p < 0.05: the smallest attainable p is "
                     f"{e.p_min:.2g}")
            return KnownOnly(float(value), e.p, int(n), "cannot_reject", None, 0, words, e.se, e.exact, e.p_min)
        if e.reason is not None:  # the precise evaluation and the panel disagree on testability: trust the panel
            return KnownOnly(float(value), math.nan, int(n), e.reason, None, 0, e.reason)
        return KnownOnly(float(value), e.p, int(n), None, bool(e.p < ALPHA), direction, None, e.se, e.exact,
                         e.p_min)

    f, b, d = summary.full, summary.binary, summary.deprivation
    dep_n = d.n_delegated + d.n_not_delegated
    subject = "CCGs of known level with an IMD score" if d.n_missing_imd else "CCGs of known level"
    sign = int(np.sign(d.diff)) if math.isfinite(d.diff) else 0
    return {
        "join_counts.full": make("join_counts.full", f.join_counts.total_observed, f.join_counts.coverage.n_used,
                                 f.join_counts.not_run, "full"),
        "join_counts.binary": make("join_counts.binary", b.join_counts.total_observed,
                                   b.join_counts.coverage.n_used, b.join_counts.not_run, "binary"),
        "concordance.full": make("concordance.full", f.concordance.cramers_v, f.concordance.coverage.n_used,
                                 f.concordance.not_run, "full"),
        "concordance.binary": make("concordance.binary", b.concordance.cramers_v, b.concordance.coverage.n_used,
                                   b.concordance.not_run, "binary"),
        "deprivation.binary": make("deprivation.binary", d.diff, dep_n, d.diff_not_run, "binary", sign, subject),
        "deprivation.full": make("deprivation.full", d.kruskal_h, dep_n, d.kruskal_not_run, "full", 0, subject),
        **_known_size(summary.size, make),
    }


def _known_size(z: SizeResult | None, make: Callable[..., KnownOnly]) -> dict[str, KnownOnly]:
    """The size statistics' known-only entries (``analysis.size``): the panel's own not-run reasons, else the
    precise p; a summary made without them gives the reason ``too_few_known`` (no population)."""
    if z is None:
        return {n: KnownOnly(math.nan, math.nan, 0, "too_few_known", None, 0, "no population given")
                for n in ("size.binary", "size.full")}
    why = {n: w if w is None or w.reason != "cannot_reject" else None  # the precise p says it again, worded
           for n, w in (("size.binary", z.diff_not_run), ("size.full", z.kruskal_not_run))}
    subject = "CCGs of known level with a population" if z.n_missing_population else "CCGs of known level"
    sign = int(np.sign(z.diff)) if math.isfinite(z.diff) else 0
    return {"size.binary": make("size.binary", z.diff, z.n_used, why["size.binary"], "binary", sign, subject),
            "size.full": make("size.full", z.kruskal_h, z.n_used, why["size.full"], "full", 0, subject)}


def _precise_known(table: pd.DataFrame, neighbours: Mapping[str, Sequence[str]], mask: np.ndarray, year: int,
                   store: dict[int, Relabellings], seed: int) -> dict[str, _Eval]:
    """Each statistic on the known CCGs alone with a precise p (labels: every level as given, as the panel)."""
    given = table[f"level_{year}"].astype(str).to_numpy()
    known = mask & (given != UNKNOWN)
    specs = _specs(table, neighbours, known, store, seed)
    full = np.array([_LEVEL_INDEX.get(g, 0) for g in given], dtype=np.int8)
    binary = (given == DELEGATED).astype(np.int8)
    out = {}
    for spec in specs:
        spec.k = len(LEVELS) if not spec.binary else 2
        lab = (binary if spec.binary else full)[spec.positions]
        out[spec.name] = spec.evaluate(lab) if spec.n else _Eval(math.nan, math.nan, 0, "too_few_known")
    return out


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


def _once(make: Callable[[], T]) -> Callable[[], T]:
    """``make()`` on the first call, the same value on every later one (within one call of the entry point)."""
    box: list[T] = []

    def get() -> T:
        if not box:
            box.append(make())
        return box[0]

    return get


def _known_summary(table: pd.DataFrame, neighbours: Mapping[str, Sequence[str]], mask: np.ndarray, year: int,
                   known_tables: PermutationTables | None) -> analysis.Summary:
    """The clustering panel's summary of the view, made here when the caller has none to reuse."""
    return analysis.summarise(
        table[f"level_{year}"], neighbours, table["area_team"], table["imd_score"],
        table["population"] if "population" in table.columns else None, mask=mask, year=year,
        permutations=KNOWN_PERMUTATIONS, seed=KNOWN_SEED,
        tables=known_tables if known_tables is not None else PermutationTables(max_entries=2))


def _problem(table: pd.DataFrame, neighbours: Mapping[str, Sequence[str]], sampler: CompletionSampler,
             draws: np.ndarray, mask: np.ndarray, year: int, never: set[str], seed: int
             ) -> tuple[_Problem, dict[int, Relabellings]]:
    """The view's problem (specs, draws in table order, swap pairs) and its store of relabellings per size."""
    codes, order = _draws_in_table_order(table, sampler, draws)
    states = ccg_states(table, never)
    area = getattr(sampler, "area", None)
    if area is not None:  # an area team with a total (Surrey and Sussex): its CCGs swap only among themselves
        states["region"] = states["region"].where(states["area_team"] != area, states["region"] + " | " + area)
    pair_i, pair_j = _pairs(swap_groups(states, table))
    store: dict[int, Relabellings] = {}
    prob = _Problem(year, _specs(table, neighbours, mask, store, seed), codes, pair_i, pair_j, order,
                    table["ods_code"].astype(str).to_numpy())
    return prob, store


def _extension(table: pd.DataFrame, sampler: CompletionSampler, year: int,
               more_draws: Callable[[], np.ndarray] | None) -> np.ndarray | None:
    """The fixed-seed extension's codes of the year, CCGs in table order (None when it is empty)."""
    got = more_draws() if more_draws is not None else sampler.draw_array(EXTENDED, EXTENSION_SEED)
    return _draws_in_table_order(table, sampler, got)[0][:, :, 0 if year == 2015 else 1] if len(got) else None


def _counts(table: pd.DataFrame, mask: np.ndarray, year: int) -> dict[str, int]:
    given = table.loc[mask, f"level_{year}"].astype(str)
    return {"n_selected": int(mask.sum()), "n_known": int((given != UNKNOWN).sum()),
            "n_unknown": int((given == UNKNOWN).sum()), "n_not_delegated": int((given == NOT_DELEGATED).sum())}


def robust_statistics(
    table: pd.DataFrame, neighbours: Mapping[str, Sequence[str]], constraints: Sequence[Constraint], year: int, *,
    mask: np.ndarray | None = None, never_delegated_2015: Iterable[str] = (), completions: int = 200, seed: int = 1,
    permutations: int = PERMUTATIONS, evidence: str = "any", description: str = "England",
    filters: Mapping[str, Any] | None = None, sampler: CompletionSampler | None = None,
    draws: np.ndarray | None = None, tables: PermutationTables | None = None,
    known_tables: PermutationTables | None = None, known_summary: analysis.Summary | None = None,
    more_draws: Callable[[], np.ndarray] | None = None,
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
    permutations : kept for compatibility: p-values are now exact where the relabellings can be listed and
        sequential Monte Carlo otherwise (:mod:`dashboard.robust.exact`), whatever this says.
    sampler, draws, known_tables : the caller's cached sampler, ``sampler.draw_array(completions, seed)`` and the
        panel's relabelling store (for the known-only summary, when ``known_summary`` is not given).
    known_summary : the clustering panel's :func:`dashboard.analysis.summarise` of the same view, reused.
    more_draws : further completions (as ``draws``) for a statistic whose 200 draws leave "most" and "depends"
        undecided (the 95% interval of the share contains one half); default ``sampler.draw_array(EXTENDED,
        seed)`` after the first ``completions``.

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
    'enumeration'
    """
    table = _levels_table(table)
    mask = np.ones(len(table), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != (len(table),):
        raise ValueError("mask must have one entry per row of table")
    never = set(never_delegated_2015)
    sampler = sampler if sampler is not None else CompletionSampler(table, constraints, never)
    draws = draws if draws is not None else sampler.draw_array(int(completions), int(seed))
    del tables  # the relabellings now live for this call only (dashboard.robust.exact)
    known = known_summary if known_summary is not None else _known_summary(table, neighbours, mask, year,
                                                                           known_tables)
    prob, store = _problem(table, neighbours, sampler, draws, mask, year, never, int(seed))
    known_only = _known_only(known, _precise_known(table, neighbours, mask, year, store, int(seed)))
    more = _once(lambda: _extension(table, sampler, year, more_draws))
    enumerate_once = _once(lambda: admissible_restricted(table, constraints, year, mask, never))
    stats = tuple(_one(spec, known_only[spec.name], prob, sampler, int(seed), enumerate_once, more)
                  for spec in prob.specs)
    return RobustResult(year=int(year), evidence=evidence, description=description, filters=dict(filters or {}),
                        **_counts(table, mask, year), completions=int(draws.shape[0]), seed=int(seed),
                        permutations=int(permutations), known_permutations=KNOWN_PERMUTATIONS, statistics=stats)
