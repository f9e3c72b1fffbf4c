"""Brute-force reference answers for the robustness tests: every distinct labelling listed, every statistic
computed from its definition (no code shared with dashboard.robust), so an exact p is a count over a list."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np
from scipy import stats


def distinct_labellings(labels: Sequence[int]) -> Iterator[tuple[int, ...]]:
    """Every distinct rearrangement of ``labels`` (a multiset permutation), each once."""
    counts = Counter(labels)
    n = len(labels)

    def rec(prefix: list[int]) -> Iterator[tuple[int, ...]]:
        if len(prefix) == n:
            yield tuple(prefix)
            return
        for lv in sorted(counts):
            if counts[lv]:
                counts[lv] -= 1
                prefix.append(lv)
                yield from rec(prefix)
                prefix.pop()
                counts[lv] += 1

    yield from rec([])


def same_pairs(lab: Sequence[int], pairs: Sequence[tuple[int, int]]) -> int:
    return sum(lab[i] == lab[j] for i, j in pairs)


def chi2(lab: Sequence[int], teams: Sequence[int]) -> float:
    levels, rows = sorted(set(lab)), sorted(set(teams))
    table = np.array([[sum(1 for a, t in zip(lab, teams) if a == lv and t == r) for lv in levels] for r in rows],
                     dtype=float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    return float(((table - expected) ** 2 / expected).sum())


def abs_diff(lab: Sequence[int], x: Sequence[float], delegated: int = 1) -> float:
    a = [v for v, lv in zip(x, lab) if lv == delegated]
    b = [v for v, lv in zip(x, lab) if lv != delegated]
    return abs(float(np.mean(a)) - float(np.mean(b)))


def kruskal_h(lab: Sequence[int], x: Sequence[float]) -> float:
    groups = [[v for v, lv in zip(x, lab) if lv == g] for g in sorted(set(lab))]
    return float(stats.kruskal(*groups).statistic)


def exact_p(lab: Sequence[int], statistic, tol: float = 1e-9,  # noqa: ANN001
            memo: dict | None = None) -> tuple[float, float]:
    """(p, smallest attainable p) of ``statistic`` (larger = more extreme) over every distinct relabelling;
    ``memo`` keeps the relabellings' statistics per multiset of labels (they depend on nothing else)."""
    key = tuple(sorted(lab))
    if memo is not None and key in memo:
        sims = memo[key]
    else:
        sims = np.array([statistic(r) for r in distinct_labellings(list(lab))])
        if memo is not None:
            memo[key] = sims
    obs = statistic(tuple(lab))
    return float((sims >= obs - tol * max(1.0, abs(obs))).mean()), float((sims >= sims.max() - tol).mean())


def grid_pairs(rows: int, cols: int) -> list[tuple[int, int]]:
    """Rook neighbours of a rows x cols grid, cells numbered row by row."""
    out = []
    for r, c in itertools.product(range(rows), range(cols)):
        if c + 1 < cols:
            out.append((r * cols + c, r * cols + c + 1))
        if r + 1 < rows:
            out.append((r * cols + c, (r + 1) * cols + c))
    return out
