"""Settings, names and label codes shared by the robustness check's modules."""

from __future__ import annotations

import numpy as np

from dashboard.completions import CODES
from geodata.vocabulary import DELEGATED, GREATER_INVOLVEMENT, JOINT, NONE, NOT_DELEGATED, UNKNOWN

ALPHA = 0.05
#: Kept for the JSON's ``permutations``: the first stage of the sequential Monte Carlo (dashboard.robust.exact);
#: p-values are exact where the relabellings can be listed.
PERMUTATIONS = 199
KNOWN_PERMUTATIONS, KNOWN_SEED = 999, 0  # the clustering panel's settings (dashboard.analysis.summarise)
RESTARTS = 3  # search starts per statistic and direction: the two most extreme draws and one other
SEARCH_STEPS, SEARCH_BATCH, PATIENCE = 120, 128, 2
STATISTICS: tuple[str, ...] = ("join_counts.full", "join_counts.binary", "concordance.full", "concordance.binary",
                               "deprivation.binary", "deprivation.full", "size.binary", "size.full")
VERDICTS: dict[str, str] = {
    "holds": "holds whatever the unknown levels were",
    "no_counterexample": "no counterexample found",
    "most": "holds in most completions",
    "depends": "depends on the unknown levels",
    "not_run": "cannot be tested on the known CCGs alone",
    "untested": "no completion could be tested",
}
LABELS = {
    "join_counts.full": "Same-level neighbours (full levels)",
    "join_counts.binary": "Same-level neighbours (delegated vs not delegated)",
    "concordance.full": "Area teams (full levels)",
    "concordance.binary": "Area teams (delegated vs not delegated)",
    "deprivation.binary": "Deprivation (delegated vs not delegated)",
    "deprivation.full": "Deprivation (full levels)",
    "size.binary": "Size (delegated vs not delegated)",
    "size.full": "Size (full levels)",
}
#: What ``value`` and ``p`` are, per statistic.
MEASURES = {
    "join_counts": ("same-level neighbour pairs", "one-sided p (more same-level pairs than chance)"),
    "concordance": ("Cramér's V", "permutation p"),
    "deprivation.binary": ("mean IMD score of delegated minus the rest", "two-sided permutation p"),
    "deprivation.full": ("Kruskal-Wallis H", "permutation p (exact where the relabellings can be listed)"),
    "size.binary": ("mean population of delegated minus the rest", "two-sided permutation p"),
    "size.full": ("Kruskal-Wallis H of population", "permutation p (exact where the relabellings can be listed)"),
}
_REASON_WORDS = {"too_few_known": "too few CCGs", "one_level": "every CCG at one level",
                 "no_pairs": "no neighbouring pair", "one_team": "one area team", "same_imd": "one IMD score",
                 "same_population": "one population",
                 "cannot_reject": "no labelling could give p < 0.05"}
#: Sampler codes (D, J, GI, N, GIN) -> labels of the full-level view per year, and of the binary view.
_FULL = {2015: np.array([{DELEGATED: 0, JOINT: 1}.get(c, 2) for c in CODES], dtype=np.int8),
         2016: np.array([{DELEGATED: 0, JOINT: 1, GREATER_INVOLVEMENT: 2, NONE: 3}.get(c, 2) for c in CODES],
                        dtype=np.int8)}
_BINARY = np.array([int(c == DELEGATED) for c in CODES], dtype=np.int8)
_OPEN = (UNKNOWN, NOT_DELEGATED)
