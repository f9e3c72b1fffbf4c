"""Random relabellings shared by every statistic, and the permutation p-values computed from them.

The relabellings depend only on (number of CCGs analysed, permutations, seed), so one set serves every
statistic and both views of a selection: results stay reproducible and the shuffling is paid once per size.
The caller owns the store (:class:`PermutationTables`, one per atlas in the dashboard); nothing is kept at
module level.

p-values are ``(1 + #{permuted at least as extreme}) / (1 + permutations)``, so they are never 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dashboard.caching import BoundedCache


@dataclass(frozen=True, eq=False)
class Tables:
    """One set of relabellings, read-only: ``perm`` (P, n), its transpose ``perm_t`` (n, P), ``inv`` (P, n).

    Row ``p`` of ``perm`` is a uniformly random ordering of ``range(n)`` (relabelled data are ``x[perm]``);
    ``inv[p, i]`` is where ``i`` sits in that ordering.
    """

    perm: np.ndarray
    perm_t: np.ndarray
    inv: np.ndarray
    seed: int

    @property
    def n(self) -> int:
        return int(self.perm.shape[1])

    @property
    def permutations(self) -> int:
        return int(self.perm.shape[0])


def check_permutations(permutations: int) -> int:
    if int(permutations) < 1:
        raise ValueError("permutations must be >= 1")
    return int(permutations)


def make_tables(n: int, permutations: int, seed: int) -> Tables:
    """Draw ``permutations`` orderings of ``range(n)`` with ``np.random.default_rng(seed)``.

    Examples
    --------
    >>> t = make_tables(5, 99, seed=0)
    >>> t.perm.shape, sorted(t.perm[0].tolist())
    ((99, 5), [0, 1, 2, 3, 4])
    """
    permutations = check_permutations(permutations)
    rng = np.random.default_rng(int(seed))
    perm = rng.permuted(np.tile(np.arange(n, dtype=np.intp), (permutations, 1)), axis=1)
    inv = np.empty_like(perm)
    np.put_along_axis(inv, perm, np.broadcast_to(np.arange(n, dtype=np.intp), perm.shape), axis=1)
    perm_t = np.ascontiguousarray(perm.T)
    for arr in (perm, perm_t, inv):
        arr.flags.writeable = False
    return Tables(perm=perm, perm_t=perm_t, inv=inv, seed=int(seed))


class PermutationTables:
    """A bounded, thread-safe store of :class:`Tables` keyed on (n, permutations, seed); least recent dropped.

    One set for 209 CCGs and 999 permutations takes about 5 MB, hence the small default bound.

    Examples
    --------
    >>> store = PermutationTables(max_entries=2)
    >>> store.get(10, 99, 0) is store.get(10, 99, 0)
    True
    """

    def __init__(self, max_entries: int = 4) -> None:
        self._cache: BoundedCache[Tables] = BoundedCache(max_entries)

    @property
    def max_entries(self) -> int:
        return self._cache.max_entries

    @property
    def hits(self) -> int:
        return self._cache.hits

    @property
    def misses(self) -> int:
        return self._cache.misses

    def __len__(self) -> int:
        return len(self._cache)

    def get(self, n: int, permutations: int, seed: int) -> Tables:
        key = (int(n), check_permutations(permutations), int(seed))
        return self._cache.get_or_make(key, lambda: make_tables(*key))

    def clear(self) -> None:
        self._cache.clear()


def tables_for(store: PermutationTables | None, n: int, permutations: int, seed: int) -> Tables:
    """Tables from the caller's store, or made on the fly when there is none."""
    return make_tables(n, permutations, seed) if store is None else store.get(n, permutations, seed)


def p_upper(sims: np.ndarray, obs: float) -> float:
    """One-sided p: share of relabellings at least as large as observed."""
    return float((1 + np.count_nonzero(sims >= obs)) / (1 + sims.shape[0]))


def p_lower(sims: np.ndarray, obs: float) -> float:
    """One-sided p: share of relabellings at most as large as observed."""
    return float((1 + np.count_nonzero(sims <= obs)) / (1 + sims.shape[0]))


def two_sided(p_up: float, p_low: float) -> float:
    """Twice the smaller one-sided p, capped at 1."""
    return min(1.0, 2 * min(p_up, p_low))


def z_score(obs: float, sims: np.ndarray) -> float:
    """Distance of the observed value from the permutation mean in permutation standard deviations."""
    sd = float(sims.std(ddof=1)) if sims.size > 1 else 0.0
    return (obs - float(sims.mean())) / sd if sd > 0 else math.nan
