"""What the robustness check returns: known-only results, completion summaries, extremes, verdicts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from dashboard.analysis.summary import jsonable
from dashboard.robust.terms import ALPHA, MEASURES
from geodata.vocabulary import YEAR_LABEL


@dataclass(frozen=True)
class KnownOnly:
    """The panel's test on the known CCGs: ``not_run`` is the reason code when it could not be run."""

    value: float
    p: float
    n: int
    not_run: str | None
    significant: bool | None
    direction: int = 0
    words_not_run: str | None = None
    se: float = 0.0
    exact: bool = False
    p_min: float = math.nan


@dataclass(frozen=True)
class CompletionSummary:
    """The statistic over the completions tested (``n``); ``not_run`` completions could not be tested.

    ``n_draws`` completions were drawn; ``n_significant`` of them gave p < 0.05; ``n_agree`` say what the known
    CCGs say (``share_agree`` = n_agree / n_draws, ``agree_interval`` its 95% Wilson interval); ``n_exact`` had
    an exact p, the others a sequential Monte Carlo p whose largest error is ``mc_error_max``.
    """

    n: int
    n_ccgs: int
    median: float
    p5: float
    p95: float
    p_median: float
    p_p5: float
    p_p95: float
    share_p_below_05: float
    not_run: int
    not_run_reasons: dict[str, int] = field(default_factory=dict, hash=False)
    share_agree: float = math.nan
    n_draws: int = 0
    n_significant: int = 0
    n_agree: int = 0
    agree_interval: tuple[float, float] = (math.nan, math.nan)
    n_exact: int = 0
    mc_error_max: float = math.nan


@dataclass(frozen=True)
class Extreme:
    """One extreme completion: its statistic, p, and how it was found (``search``, ``exact`` or ``enumeration``).

    ``exact`` is True when no admissible completion goes beyond it (every one listed, or an exact optimisation);
    otherwise it is the lowest (highest) p *found*, not the range of p.

    ``completion`` (not in the JSON) holds its levels, one row per CCG (ods_code, level_2015, level_2016), for a
    completion found by search; an exact extreme gives only the year's delegation, so it has none.
    """

    value: float
    p: float
    found_by: str
    exact: bool = False
    completion: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    se: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """value, p, its Monte Carlo error, found_by, exact (the completion itself is left out)."""
        return {"value": jsonable(self.value), "p": jsonable(self.p), "p_mc_error": jsonable(self.se),
                "found_by": self.found_by, "exact": self.exact}


@dataclass(frozen=True)
class Verdict:
    """A code (:data:`VERDICTS`) and the words for the reader."""

    code: str
    words: str


@dataclass(frozen=True)
class StatisticResult:
    """Known-only value, completion summary, extremes and verdict of one statistic of the panel."""

    name: str
    label: str
    finding: str
    known_only: KnownOnly
    completions: CompletionSummary
    low: Extreme | None
    high: Extreme | None
    verdict: Verdict
    exact_range: tuple[Extreme, Extreme] | None = None
    values: tuple[float, ...] = field(default=(), repr=False)
    p_values: tuple[float, ...] = field(default=(), repr=False)
    swaps: int = 0
    proof: dict[str, Any] | None = None

    def to_dict(self, samples: bool = False) -> dict[str, Any]:
        """JSON-ready (stable names); ``samples`` adds every completion's value and p."""
        value_name, p_name = MEASURES.get(self.name, MEASURES.get(self.name.split(".")[0], ("", "")))
        out = {"name": self.name, "label": self.label, "finding": self.finding, "value_name": value_name,
               "p_name": p_name, "known_only": jsonable(self.known_only),
               "completions": jsonable(self.completions),
               "extremes": {"low": self.low and self.low.to_dict(), "high": self.high and self.high.to_dict()},
               "verdict": jsonable(self.verdict), "search_swaps": self.swaps, "proof": jsonable(self.proof),
               "exact_range": None if self.exact_range is None else {
                   "low": self.exact_range[0].to_dict(), "high": self.exact_range[1].to_dict(),
                   "by": "the smallest and largest difference over every admissible completion; each p is that "
                         "difference's p, not the lowest or highest p (see extremes)"}}
        if samples:
            out["samples"] = {"value": jsonable(self.values), "p": jsonable(self.p_values)}
        return out


@dataclass(frozen=True)
class RobustResult:
    """Every statistic of the clustering panel for one view, with its robustness to the unknown levels."""

    year: int
    evidence: str
    description: str
    filters: dict[str, Any]
    n_selected: int
    n_known: int
    n_unknown: int
    n_not_delegated: int
    completions: int
    seed: int
    permutations: int
    known_permutations: int
    statistics: tuple[StatisticResult, ...]

    @property
    def n_open(self) -> int:
        """CCGs in the filter whose level in the year a completion fills (unknown or not delegated)."""
        return self.n_unknown + self.n_not_delegated

    def statistic(self, name: str) -> StatisticResult:
        """The result of one statistic by name (:data:`STATISTICS`)."""
        for s in self.statistics:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_dict(self, samples: bool = False, headline: str = "") -> dict[str, Any]:
        """JSON-ready, with the stable names of ``../shared/CONTRACT.md`` (NaN as None); ``headline`` is the
        result's headline in words (:func:`dashboard.robust.words.headline`), which the caller words: results hold
        numbers and reasons, and the words module reads them, not the other way round."""
        return {"year": self.year, "year_label": YEAR_LABEL.get(self.year, str(self.year)),
                "evidence": self.evidence, "description": self.description, "filters": jsonable(self.filters),
                "n_selected": self.n_selected, "n_known": self.n_known, "n_unknown": self.n_unknown,
                "n_not_delegated": self.n_not_delegated, "n_open": self.n_open, "completions": self.completions,
                "seed": self.seed, "permutations": self.permutations,
                "known_permutations": self.known_permutations, "alpha": ALPHA, "headline": headline,
                "statistics": [s.to_dict(samples) for s in self.statistics]}
