"""What the statistics return: data only (numbers, tables, flags), never sentences.

Every result carries a :class:`Coverage` (how many CCGs it describes and which it left out) and, when its test
could not be run, a :class:`NotRun` with a reason code; the words are chosen by the presentation
(``dashboard.page.clustering_readings``). Descriptive figures (counts, shares, means) are filled whenever they are
defined; test statistics and p-values only when the test ran, NaN otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

#: Fewer known CCGs than this and no test is run: a permutation test on 4 CCGs says nothing.
MIN_KNOWN = 5

#: Why a test was not run. ``detail`` holds the figures a reader needs (see :class:`NotRun`).
Reason = Literal["too_few_known", "one_level", "no_pairs", "one_team", "same_imd"]


@dataclass(frozen=True)
class NotRun:
    """A test that could not be run, and why: a reason code plus its figures.

    ``too_few_known``: ``n_known``, ``minimum``; ``one_level``: ``level``, ``n_known`` (every known CCG chose
    that level, so relabelling changes nothing); ``no_pairs``: ``n_known`` (no two analysed CCGs are
    neighbours); ``one_team``: ``team``, ``n_known``; ``same_imd``: ``n_known``, ``score``.
    """

    reason: Reason
    detail: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Coverage:
    """The CCGs a statistic describes: ``n_used`` known, the unknown ones left out, and (for neighbour
    statistics) the islands, known CCGs with no analysed neighbour; ``islands`` is None where not relevant."""

    n_used: int
    n_excluded_unknown: int
    excluded_unknown: tuple[str, ...]
    islands: tuple[str, ...] | None = None

    @classmethod
    def of(cls, n_used: int, unknown: tuple[str, ...], islands: tuple[str, ...] | None = None) -> Coverage:
        return cls(n_used=int(n_used), n_excluded_unknown=len(unknown), excluded_unknown=tuple(unknown),
                   islands=islands)

    @property
    def n_islands(self) -> int:
        return len(self.islands or ())


def check_known(lab: np.ndarray, cats: list[str]) -> NotRun | None:
    """The two reasons shared by every test: too few known CCGs, or all of them at one level."""
    n = len(lab)
    if n < MIN_KNOWN:
        return NotRun("too_few_known", {"n_known": n, "minimum": MIN_KNOWN})
    if len(cats) == 1:
        return NotRun("one_level", {"level": cats[0], "n_known": n})
    return None


class Tested:
    """A result whose test may not have run: ``not_run`` says why, ``enough_data`` whether it ran."""

    not_run: NotRun | None

    @property
    def enough_data(self) -> bool:
        return self.not_run is None


@dataclass(frozen=True, eq=False)
class JoinCountResult(Tested):
    """Same-level neighbour pairs against random relabelling of the known CCGs (multi-category join counts).

    ``per_level`` columns: level, n_ccgs, observed (same-level pairs), expected (permutation mean),
    expected_analytic, z, p_cluster (one-sided, more than chance), p_dispersion (one-sided, fewer than
    chance), p_two_sided. ``total_*`` are the same figures summed over levels.
    """

    coverage: Coverage
    n_joins: int
    per_level: pd.DataFrame
    total_observed: int
    total_expected: float
    total_expected_analytic: float
    total_z: float
    total_p_cluster: float
    total_p_dispersion: float
    total_p_two_sided: float
    permutations: int
    seed: int
    not_run: NotRun | None = None


@dataclass(frozen=True, eq=False)
class ConcordanceResult(Tested):
    """How uniform each NHS England area team was, and whether team predicts level beyond chance.

    ``per_team`` columns: team, n_known, n_unknown, modal_level, n_modal (known CCGs at it), modal_share
    (``n_modal / n_known``), modal_tie (several levels share the top count; the first in level order is
    shown), ranked (at least ``MIN_TEAM_KNOWN`` known), then one count column per level. Ranked teams come
    first, most uniform first (ties: more known CCGs first); then the others, most known first.

    ``cramers_v`` is from the team x level table; ``cramers_v_expected`` its permutation mean (V is biased
    upwards when teams are small); ``cramers_v_corrected`` the bias-corrected V. ``p_value`` permutes levels
    across CCGs; ``chi2_p_asymptotic`` is the classical test (unreliable with small expected counts).
    ``modal_agreement`` is the share of CCGs that chose their team's most common level.
    """

    coverage: Coverage
    excluded_no_team: tuple[str, ...]
    n_teams: int
    per_team: pd.DataFrame
    cramers_v: float
    cramers_v_expected: float
    cramers_v_corrected: float
    p_value: float
    chi2: float
    chi2_dof: int
    chi2_p_asymptotic: float
    modal_agreement: float
    modal_agreement_expected: float
    modal_agreement_p: float
    permutations: int
    seed: int
    not_run: NotRun | None = None

    @property
    def n_excluded_no_team(self) -> int:
        return len(self.excluded_no_team)


@dataclass(frozen=True, eq=False)
class LocalClusterResult(Tested):
    """Per-CCG local same-level clustering (conditional permutation), one row per known CCG.

    ``table`` columns: ccg_code, level, n_neighbours (known, selected), n_same, share_same, expected_same,
    p_value, significant (p <= alpha and n_same >= 1), island. Islands, and every CCG when the test was not
    run, have NaN p and are not significant. ``n_expected_false_positives`` = alpha x CCGs tested: how many
    "significant" CCGs chance alone would give.
    """

    coverage: Coverage
    n_tested: int
    n_significant: int
    n_expected_false_positives: float
    alpha: float
    table: pd.DataFrame
    permutations: int
    seed: int
    not_run: NotRun | None = None


@dataclass(frozen=True, eq=False)
class DeprivationResult:
    """IMD score (higher = more deprived) by level: full view (Kruskal-Wallis), binary view (permutation).

    ``by_level`` / ``by_binary`` columns: level, n, median, mean, pop_weighted_mean. ``diff`` = mean IMD of
    delegated minus that of the other known CCGs (filled whenever both groups exist); ``diff_p_greater`` tests
    "delegated more deprived", ``diff_p_less`` the reverse, ``diff_p_two_sided`` uses |difference|.
    """

    coverage: Coverage
    missing_imd: tuple[str, ...]
    by_level: pd.DataFrame
    by_binary: pd.DataFrame
    n_groups: int
    kruskal_h: float
    kruskal_p: float
    epsilon_squared: float
    n_delegated: int
    n_not_delegated: int
    diff: float
    diff_p_two_sided: float
    diff_p_greater: float
    diff_p_less: float
    permutations: int
    seed: int
    kruskal_not_run: NotRun | None = None
    diff_not_run: NotRun | None = None

    @property
    def n_missing_imd(self) -> int:
        return len(self.missing_imd)

    @property
    def kruskal_enough_data(self) -> bool:
        return self.kruskal_not_run is None

    @property
    def diff_enough_data(self) -> bool:
        return self.diff_not_run is None
