"""Would each finding of the clustering panel survive the unknown levels? (issue 11)

Over half the CCG-years have no known level, so every statistic of the clustering panel describes only the
known CCGs. For one view (year, filter, evidence choice) this module takes each statistic of the panel

* ``join_counts.full`` / ``join_counts.binary``: same-level neighbour pairs (one-sided p, clustering),
* ``concordance.full`` / ``concordance.binary``: area team and level (Cramér's V, permutation p),
* ``deprivation.binary``: mean IMD of delegated minus the rest (two-sided permutation p),
* ``deprivation.full``: Kruskal-Wallis across levels,

and reports (1) the known-only value and p exactly as the panel computes them (999 relabellings, seed 0);
(2) the statistic and its p over admissible completions of the unknown levels drawn by
:class:`~dashboard.completions.CompletionSampler` (every published total met, every known level kept), with
*all* CCGs in the filter (known and completed, ``not_delegated`` made concrete; in 2015/16 greater involvement
and no role are the one class ``greater_involvement_or_none``); (3) two extreme completions, the lowest and the
highest p found; (4) a verdict in plain words.

Extremes are found by a search that keeps every constraint: it swaps the (2015/16, 2016/17) level pairs of two
CCGs of the same constraint group (same region, same known / unknown / not-delegated state in both years, same
given levels), hill-climbing a smooth, exact-moment version of the statistic (standardised join count,
Wilson-Hilferty transform of chi-squared and H, standardised difference) up and down from several draws; every
end point, and every draw, is then tested with the permutation p, and the lowest and highest p are kept, so
``low.p <= every sampled p <= high.p`` by construction (``found_by = "search"``). For the difference in mean IMD
in 2015/16 the extremes are exact (``found_by = "exact"``, ``exact = True``) when the totals leave the structure
the sampler works with (regional quotas of delegation, national range): a dynamic programme over regions gives
delegation to the most (least) deprived open CCGs of each region's quota, for every count, and so finds the
largest and smallest difference, and standardised difference, of all admissible completions
(:attr:`StatisticResult.exact_range`; the standardised ones compete for ``low`` and ``high``).

p-values (issue 19): the relabelling null of a statistic depends only on how many CCGs carry each label, so one
null per count vector serves every completion with it (:mod:`~dashboard.robust.exact`): exact where the distinct
labellings can be listed, else sequential Monte Carlo (Besag-Clifford, then 999 and 9,999 relabellings where a p
is near 0.05), its error kept. Kruskal-Wallis is a permutation test too. A test no labelling could make
significant (smallest attainable p at least 0.05) is ``cannot_reject``: not run, never a headline.

Verdicts: ``holds`` only when proven for every admissible completion, by listing them all
(:mod:`~dashboard.robust.proof`, one integer programme per count vector decides admissibility) or, for the 2015/16
difference in mean IMD, by the regional programme for every count of delegated CCGs; ``no_counterexample`` when
every draw and the search agree but nothing is proven; ``most`` only when the 95% Wilson interval of the share of
completions that agree lies above one half (when 200 seeded draws leave it undecided, it is decided on 2,000
drawn with one fixed seed, the same for every seed); otherwise ``depends``; ``not_run`` / ``untested`` as before.
Percentages follow one rule (:func:`percent_value`).

The package, one job per module: :mod:`~dashboard.robust.terms` (settings and names),
:mod:`~dashboard.robust.results` (what is returned), :mod:`~dashboard.robust.specs` (the statistics on integer
labels), :mod:`~dashboard.robust.extremes` (search and exact extremes), :mod:`~dashboard.robust.over_completions`
(the pure entry point :func:`robust_statistics`), :mod:`~dashboard.robust.words` (findings and verdicts in plain
words) and :mod:`~dashboard.robust.per_view` (:func:`robust_for` a page view, cached on the service).
"""

from dashboard.numbers import percent_value
from dashboard.robust.over_completions import robust_statistics
from dashboard.robust.per_view import (
    constraints_of,
    draws_for,
    evidence_table,
    never_delegated,
    prepare,
    result_bytes,
    results_cache,
    robust_for,
    sampler_for,
)
from dashboard.robust.results import CompletionSummary, Extreme, KnownOnly, RobustResult, StatisticResult, Verdict
from dashboard.robust.specs import swap_groups
from dashboard.robust.terms import ALPHA, LABELS, MEASURES, PERMUTATIONS, STATISTICS, VERDICTS
from dashboard.robust.words import finding, headline, percent, wilson
from dashboard.wording import fmt_p

__all__ = [
    "ALPHA", "LABELS", "MEASURES", "PERMUTATIONS", "STATISTICS", "VERDICTS", "CompletionSummary", "Extreme",
    "KnownOnly", "RobustResult", "StatisticResult", "Verdict", "constraints_of", "draws_for", "evidence_table",
    "finding", "fmt_p", "headline", "never_delegated", "percent", "percent_value", "prepare", "result_bytes",
    "results_cache", "robust_for",
    "robust_statistics", "sampler_for", "swap_groups", "wilson",
]
