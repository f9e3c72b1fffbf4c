"""The robustness panel: each clustering finding with its verdict over the admissible completions (presentation).

The numbers come from :mod:`dashboard.robust`; this module only words and lays them out. The page shows the
known-only results at once (``clustering``) and this panel when it is ready (``clustering-robust``), so no filter
change waits on the completions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dash import html

from dashboard.change import SPAN
from dashboard.prior_sensitivity import PriorSensitivity, cell_words, sensitivity_for
from dashboard.robust import RobustResult, StatisticResult, headline, percent, robust_for
from dashboard.service import AtlasService
from dashboard.state import ViewState
from geodata.vocabulary import EVIDENCE_LABEL, YEAR_LABEL

VERDICT_CLASS = {"holds": "verdict holds", "no_counterexample": "verdict most", "most": "verdict most",
                 "depends": "verdict depends", "not_run": "verdict untested", "untested": "verdict untested"}


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _row(s: StatisticResult) -> html.Tr:
    c = s.completions
    known = "not run" if s.known_only.not_run else _p(s.known_only.p)
    spread = f"{_p(c.p_p5)} to {_p(c.p_p95)}" if c.n else "–"
    share = f"{c.n_significant} of {c.n_draws} ({percent(c.n_significant, c.n_draws)})" if c.n_draws else "–"
    extremes = "–"
    if s.low is not None and s.high is not None:
        if s.low.exact and s.high.exact:
            extremes = f"{_p(s.low.p)} to {_p(s.high.p)} (exact: every admissible completion)"
        elif s.low.exact:
            extremes = f"{_p(s.low.p)} (exact lowest); {_p(s.high.p)} (highest found)"
        else:
            extremes = f"{_p(s.low.p)} and {_p(s.high.p)} (lowest and highest found, not the full range)"
    return html.Tr([
        html.Th([s.label, html.Br(), html.Span(f"On the known CCGs: {s.finding.rstrip('.')}", className="finding")],
                scope="row"), html.Td(known, className="num"), html.Td(_p(c.p_median), className="num"),
        html.Td(spread, className="num"), html.Td(share, className="num"), html.Td(extremes),
        html.Td(s.verdict.words, className=VERDICT_CLASS.get(s.verdict.code, "verdict")),
    ])


#: How the check under the other prior weighs the completions (shown under its table).
PRIOR_HINT = (" The completions are drawn with every admissible two-year history equally likely; the check under "
              "the other prior repeats them with 2015/16 drawn first and 2016/17 given it, and says ‘depends on "
              "the assumptions’ where the verdict changes.")


def _prior_words(sensitivity: Sequence[PriorSensitivity]) -> str:
    differ = [s for s in sensitivity if not s.same]
    if not differ:
        return (f"All {len(sensitivity)} verdicts are the same when the completions are weighted the other way "
                "(2015/16 drawn first, then 2016/17 given it). ")
    return (f"{len(differ)} of {len(sensitivity)} verdicts change when the completions are weighted the other way "
            "(2015/16 drawn first, then 2016/17 given it): they depend on the assumptions, not on the published "
            "totals alone. ")


def robust_panel(result: RobustResult) -> list[object]:
    """Every finding with its p over the completions and its verdict, and one paragraph on the method (the same
    verdicts under the other prior: :func:`prior_section`, on request)."""
    if result.n_selected == 0:
        return []
    head = html.Tr([html.Th(h, scope="col") for h in (
        "Finding", "p, known CCGs", "p, median of completions", "p, 5th to 95th percentile",
        "Completions with p < 0.05", "Lowest and highest p", "Verdict")])
    evidence = "" if result.evidence == "any" else f" Evidence: {EVIDENCE_LABEL[result.evidence].lower()}."
    return [
        html.H3("Would the findings survive the unknown levels?"),
        html.P([f"{YEAR_LABEL[result.year]}, {result.description}: {result.n_unknown} of {result.n_selected} CCGs "
                f"have no known level and {result.n_not_delegated} only 'not delegated'. Each finding was tested "
                f"again on {result.completions} completions: levels for those CCGs drawn at random among every "
                "assignment the published totals allow (national and regional, both years), keeping every known "
                f"level. ", html.Strong(headline(result)), evidence],
               className="reading"),
        html.Div(html.Table([html.Caption("Each finding over the admissible completions"), html.Thead(head),
                             html.Tbody([_row(s) for s in result.statistics])],
                            className="summary-table robust-table"),
                 className="table-scroll", tabIndex=0, role="region", **{"aria-label": "Robustness of each finding"}),
        html.P("‘Holds whatever the unknown levels were’ is said only when proven for every admissible completion: "
               "all of them listed, or the statistic optimised exactly over them. Otherwise the verdict counts the "
               "completions (with a 95% interval), says ‘most’ only when that interval lies above half, and says "
               "‘no counterexample’ when none was drawn or found by the search but no proof exists. A test that no "
               "labelling of the CCGs could make significant (p < 0.05) is reported as one that cannot be tested. "
               "p-values are exact where the relabellings can be listed, else sequential Monte Carlo "
               f"(Besag-Clifford; seed {result.seed}).", className="hint"),
    ]


#: What the panel says in the change view: the completions test one year's levels, not the change between years.
CHANGE_NOTICE = (f"This check covers one year's levels, not the change {SPAN}: the level view of each year tests "
                 "its findings again over admissible completions of the unknown levels. Choose Level and a year "
                 "to see it.")


def robust_section(service: AtlasService, state: ViewState) -> list[object]:
    """The panel for a view state: the check for the chosen year in the level view; in the change view a notice
    that the check covers the level views only (nothing is computed, nothing claims to describe the change)."""
    if state.view == "change":
        return [html.H3("Would the findings survive the unknown levels?"), html.P(CHANGE_NOTICE, className="notice")]
    return robust_panel(robust_for(service, state))


#: The control's words: the check under the other prior costs about as much again as the panel, so it is asked for.
PRIOR_CHECK_LABEL = "Check each verdict under the other prior too (about as much work again for each view)"


def prior_section(service: AtlasService, state: ViewState) -> list[object]:
    """Each finding's verdict under the other prior (2015/16 drawn first, then 2016/17 given it) beside the
    panel's, shown when the reader ticks :data:`PRIOR_CHECK_LABEL`: a verdict that changes rests on that
    assumption, not on the published totals alone. Nothing is computed in the change view (see
    :data:`CHANGE_NOTICE`)."""
    if state.view == "change":
        return []
    sensitivity = sensitivity_for(service, state)
    if not sensitivity:
        return []
    labels = {s.name: s.label for s in robust_for(service, state).statistics}
    rows = [html.Tr([html.Th(labels.get(s.name, s.name), scope="row"),
                     html.Td(cell_words(s), className="verdict" if s.same else "verdict depends")])
            for s in sensitivity]
    return [
        html.H4("Do the verdicts depend on how the completions are weighted?"),
        html.P(_prior_words(sensitivity), className="reading"),
        html.Div(html.Table([html.Caption("Each verdict under both priors"),
                             html.Thead(html.Tr([html.Th("Finding", scope="col"),
                                                 html.Th("Verdict under both priors", scope="col")])),
                             html.Tbody(rows)], className="summary-table robust-table"),
                 className="table-scroll", tabIndex=0, role="region",
                 **{"aria-label": "Each verdict under both priors"}),
        html.P(PRIOR_HINT.strip(), className="hint"),
    ]
