"""Extreme completions: hill-climbing swaps inside constraint groups, and exact extremes of the difference in
mean IMD in 2015/16 by a dynamic programme over regions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from dashboard.analysis import MIN_KNOWN
from dashboard.completions import CompletionSampler
from dashboard.robust.exact import MARGIN_SE
from dashboard.robust.specs import _Difference, _Eval, _Problem, _Spec
from dashboard.robust.terms import PATIENCE, SEARCH_BATCH, SEARCH_STEPS
from geodata.vocabulary import DELEGATED


def _climb(spec: _Spec, f0: np.ndarray, prob: _Problem, direction: int, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray, int]:
    """Hill-climb the smooth score (``direction`` +1: up, -1: down) by swaps within constraint groups.

    ``f0`` holds the statistic's labels of every CCG of the table; returns the labels at the end point, which
    CCG's level pair each CCG took, and how many swaps were tried.
    """
    tried = 0
    f = f0.copy()
    who = np.arange(len(f))
    index = np.full(len(f), -1, dtype=np.intp)
    index[spec.positions] = np.arange(spec.n)
    keep = (index[prob.pair_i] >= 0) | (index[prob.pair_j] >= 0)
    big_i, big_j = prob.pair_i[keep], prob.pair_j[keep]
    pi, pj = index[big_i], index[big_j]
    current = direction * spec.score(f[spec.positions][None, :])[0]
    if not np.isfinite(current):
        return f, who, tried
    stale = 0
    for _ in range(SEARCH_STEPS):
        ok = np.flatnonzero(f[big_i] != f[big_j])
        if not ok.size:
            break
        every = ok.size <= SEARCH_BATCH
        pick = ok if every else rng.choice(ok, SEARCH_BATCH, replace=False)
        batch = np.repeat(f[spec.positions][None, :], len(pick), axis=0)
        rows, a, b = np.arange(len(pick)), pi[pick] >= 0, pj[pick] >= 0
        batch[rows[a], pi[pick][a]] = f[big_j[pick][a]]
        batch[rows[b], pj[pick][b]] = f[big_i[pick][b]]
        tried += len(pick)
        s = direction * spec.score(batch)
        s = np.where(np.isfinite(s), s, -np.inf)
        best = int(np.argmax(s))
        if s[best] > current + 1e-9:
            q = pick[best]
            f[big_i[q]], f[big_j[q]] = f[big_j[q]], f[big_i[q]]
            who[big_i[q]], who[big_j[q]] = who[big_j[q]], who[big_i[q]]
            current, stale = s[best], 0
        elif every:
            break
        else:
            stale += 1
            if stale >= PATIENCE:
                break
    return f, who, tried


def _reduced_structure(sampler: CompletionSampler) -> tuple[list, set[int]] | None:
    """Regions' delegation cells and the admissible national counts, if admissibility depends on the total only.

    Uses the sampler's programme (its cells and admissible counts); None where that structure is not there.
    """
    cells, final, prefix = (getattr(sampler, name, None) for name in ("_cells", "_final", "_prefix"))
    if cells is None or final is None or prefix is None:
        return None
    keys = {key for key, w in zip(*final) if w}
    sums = {m + k for m, k in keys}
    if any(m + k in sums and (m, k) not in keys for (m, k), w in prefix[-1].items() if w):
        return None  # admissibility depends on more than the count delegated: no exact answer here
    return list(cells), sums


def _region_options(a: np.ndarray, b: np.ndarray, weights: Mapping[tuple[int, int], int], index: np.ndarray,
                    y: np.ndarray) -> dict[tuple[int, int], tuple[float, int, int]]:
    """(delegated in region, of them analysed) -> best sum of y and how many from each cell (a, b)."""
    out: dict[tuple[int, int], tuple[float, int, int]] = {}
    tops = []
    for cell in (a, b):
        inside = cell[index[cell] >= 0]
        vals = np.sort(y[index[inside]])[::-1]
        tops.append((np.concatenate([[0.0], np.cumsum(vals)]), len(cell) - len(inside)))
    (top_a, out_a), (top_b, out_b) = tops
    for (m, k), w in weights.items():
        if not w:
            continue
        for ca in range(max(0, m - out_a), min(m, len(top_a) - 1) + 1):
            for cb in range(max(0, k - out_b), min(k, len(top_b) - 1) + 1):
                key, val = (m + k, ca + cb), float(top_a[ca] + top_b[cb])
                if key not in out or val > out[key][0]:
                    out[key] = (val, ca, cb)
    return out


@dataclass(frozen=True, eq=False)
class _Exact:
    """Binary labellings of the smallest and largest standardised difference (``z``) and difference (``diff``)."""

    z: tuple[np.ndarray, np.ndarray]
    diff: tuple[np.ndarray, np.ndarray]


def _exact_delegation(sampler: CompletionSampler, spec: _Difference, order: np.ndarray) -> _Exact | None:
    """The exact extremes of the difference in mean IMD over all completions (2015/16); None when not exact.

    For every count of delegated CCGs in each region's quota, the analysed CCGs given delegation are the least
    (most) deprived open ones; a programme over regions keeps the national range and gives the best sum for
    every count, so both the difference and its standardised form are optimised exactly.
    """
    structure = _reduced_structure(sampler)
    s15 = getattr(sampler, "_s15", None)
    if structure is None or s15 is None or spec.n < MIN_KNOWN or spec.var <= 0:
        return None
    cells, sums = structure
    where = np.full(len(order), -1, dtype=np.intp)  # table row -> position in the statistic
    where[spec.positions] = np.arange(spec.n)
    index = where[order]  # sampler CCG -> position in the statistic (-1: not analysed)
    base = np.zeros(spec.n, dtype=np.int8)
    base[index[(np.asarray(s15) == DELEGATED) & (index >= 0)]] = 1
    out: dict[str, list[np.ndarray]] = {"z": [], "diff": []}
    for sign in (-1.0, 1.0):
        best, back = _programme(cells, sums, index, sign * spec.x)
        for key in out:
            choice = _choose(best, sums, base, spec, sign, key)
            if choice is None:
                return None
            out[key].append(_labelling(cells, back, choice, index, sign * spec.x, base))
    return _Exact(z=(out["z"][0], out["z"][1]), diff=(out["diff"][0], out["diff"][1]))


def _programme(cells: list, sums: set[int], index: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, list]:
    """best[s, c]: the largest sum of ``y`` over analysed open CCGs delegated, with s delegated open CCGs in all
    (c of them analysed), over the regions' quotas; and the choices, to follow back."""
    options = [_region_options(a, b, w, index, y) for a, b, w in cells]
    top_s = max(sums)
    top_c = sum(int((index[a] >= 0).sum() + (index[b] >= 0).sum()) for a, b, _ in cells)
    best = np.full((top_s + 1, top_c + 1), -np.inf)
    best[0, 0] = 0.0
    back = []
    for opts in options:
        items = [(key, val) for key, val in opts.items() if key[0] <= top_s]
        new = np.full_like(best, -np.inf)
        arg = np.full(best.shape, -1, dtype=np.intp)
        for i, ((s, c), (val, _, _)) in enumerate(items):
            cand = best[:top_s + 1 - s, :top_c + 1 - c] + val
            target, targ = new[s:, c:], arg[s:, c:]
            better = cand > target
            target[better], targ[better] = cand[better], i
        back.append((items, arg))
        best = new
    return best, back


def _choose(best: np.ndarray, sums: set[int], base: np.ndarray, spec: _Difference, sign: float,
            key: str) -> tuple[int, int] | None:
    """The (s, c) of the programme with the largest (sign +1) or smallest (-1) difference or z."""
    n_known, s_known = int(base.sum()), float(spec.x[base == 1].sum())
    choice, chosen = None, -np.inf
    for s in sorted(sums):
        for c in np.flatnonzero(np.isfinite(best[s])):
            nd, total = n_known + int(c), s_known + sign * float(best[s, c])
            if not 0 < nd < spec.n:
                continue
            diff = total / nd - (spec.total - total) / (spec.n - nd)
            value = diff / math.sqrt(spec.n**2 * spec.var / (nd * (spec.n - nd) * (spec.n - 1))) if key == "z" \
                else diff
            if sign * value > chosen:
                choice, chosen = (s, int(c)), sign * value
    return choice


def _labelling(cells: list, back: list, choice: tuple[int, int], index: np.ndarray, y: np.ndarray,
               base: np.ndarray) -> np.ndarray:
    """Follow the programme back: each region's analysed CCGs given delegation, best first."""
    lab = base.copy()
    s, c = choice
    for (a, b, _), (items, arg) in zip(reversed(cells), reversed(back)):
        (ds, dc), (_, ca, cb) = items[int(arg[s, c])]
        for cell, k in ((a, ca), (b, cb)):
            inside = cell[index[cell] >= 0]
            top = inside[np.argsort(-y[index[inside]], kind="stable")][:k]
            lab[index[top]] = 1
        s, c = s - ds, c - dc
    return lab


@dataclass(frozen=True, eq=False)
class DifferenceProof:
    """Exact answer for the difference in mean IMD over every admissible 2015/16 completion (dynamic programme).

    ``low``: the labelling with the lowest p of all and its evaluation; ``high``: the one with the highest p, or
    None where some count of delegated CCGs admits differences of both signs (the highest p is then near 1, not
    computed); ``holds``: True (proven), False (a counterexample, ``counter``) or None (a p within three Monte
    Carlo errors of 0.05: undecided).
    """

    low: tuple[np.ndarray, _Eval]
    high: tuple[np.ndarray, _Eval] | None
    holds: bool | None
    counter: tuple[np.ndarray, _Eval] | None
    counts: int


def difference_proof(sampler: CompletionSampler, spec: _Difference, order: np.ndarray, significant: bool,
                     direction: int) -> DifferenceProof | None:
    """For every admissible number of delegated analysed CCGs, the largest and smallest difference (exact, by
    the programme of :func:`_exact_delegation`), their exact (or sequential Monte Carlo) p: the p-value is
    monotone in |difference| for a given count, so these give the lowest p of all completions exactly, and
    the highest where the differences keep one sign. None where the sampler's structure is not there."""
    structure = _reduced_structure(sampler)
    s15 = getattr(sampler, "_s15", None)
    if structure is None or s15 is None or spec.n < MIN_KNOWN or spec.var <= 0:
        return None
    cells, sums = structure
    where = np.full(len(order), -1, dtype=np.intp)
    where[spec.positions] = np.arange(spec.n)
    index = where[order]
    base = np.zeros(spec.n, dtype=np.int8)
    base[index[(np.asarray(s15) == DELEGATED) & (index >= 0)]] = 1
    up, back_up = _programme(cells, sums, index, spec.x)
    down, back_down = _programme(cells, sums, index, -spec.x)
    n_known, margin = int(base.sum()), MARGIN_SE
    low = high = counter = None
    holds: bool | None = True
    straddles = False
    n_counts = 0
    ends = []
    for c in range(up.shape[1]):
        ss = [s for s in sorted(sums) if s < up.shape[0] and np.isfinite(up[s, c])]
        if not ss:
            continue
        s_hi = max(ss, key=lambda s: up[s, c])
        s_lo = max(ss, key=lambda s: down[s, c])
        ends.append((c, _labelling(cells, back_up, (s_hi, c), index, spec.x, base),
                     _labelling(cells, back_down, (s_lo, c), index, -spec.x, base)))
    if not ends:
        return None
    # every count's two ends at once (p precise where it decides: see NullCache.p_values)
    evals = spec.evaluate_all(np.stack([lab for _, hi, lo in ends for lab in (hi, lo)]))
    for i, (c, lab_hi, lab_lo) in enumerate(ends):
        n_counts += 1
        e_hi, e_lo = evals.row(2 * i), evals.row(2 * i + 1)
        nd = n_known + c
        if e_hi.reason is not None:  # one level, or no labelling with this count could give p < 0.05
            if significant:
                holds, counter = False, counter or (lab_hi, e_hi)
            continue
        far = (lab_hi, e_hi) if abs(e_hi.value) >= abs(e_lo.value) else (lab_lo, e_lo)
        if low is None or far[1].p < low[1].p:
            low = far
        if e_lo.value <= 0 <= e_hi.value and 0 < nd < spec.n:
            straddles = True
            near = None
        else:
            near = (lab_hi, e_hi) if abs(e_hi.value) < abs(e_lo.value) else (lab_lo, e_lo)
            if high is None or near[1].p > high[1].p:
                high = near
        if significant:
            if straddles or (near is not None and np.sign(near[1].value) != direction):
                holds = False
                counter = counter or ((lab_lo, e_lo) if direction > 0 else (lab_hi, e_hi))
            elif near is not None and near[1].p >= 0.05 + margin * near[1].se:
                holds, counter = False, counter or near
            elif near is not None and near[1].p >= 0.05 - margin * near[1].se and holds:
                holds = None
        else:
            if far[1].p < 0.05 - margin * far[1].se:
                holds, counter = False, counter or far
            elif far[1].p < 0.05 + margin * far[1].se and holds:
                holds = None
    if low is None:
        return None
    low = (low[0], spec.evaluate(low[0]))  # the extremes' p as precise as a single deciding p
    high = None if straddles or high is None else (high[0], spec.evaluate(high[0]))
    return DifferenceProof(low, high, holds, counter, n_counts)
