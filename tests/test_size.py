"""HSJ's fourth question, "no link between CCGs' size and their decision": population by level, on the known CCGs
and over the admissible completions. Answers are computed here: scipy for the statistics and its exact
permutation test, and every labelling or admissible completion listed by the test itself (tests/brute.py)."""

from __future__ import annotations

import math

import brute
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_verdicts import CASES, admissible, agrees, grid_case

from dashboard import analysis, robust
from dashboard.analysis.size import abs_difference, kruskal_h, labellings, permutation_p, size_by_level

D = "delegated"
#: Populations of the 3 x 4 grid's CCGs (people), skewed like real CCGs: a few large, many small.
POPULATION = [650_000, 480_000, 120_000, 95_000, 510_000, 300_000, 110_000, 150_000, 700_000, 260_000, 90_000,
              180_000]


def test_kruskal_h_is_scipys_with_ties():
    rng = np.random.default_rng(7)
    for _ in range(20):
        x = rng.integers(0, 6, 11).astype(float)  # many ties
        lab = rng.permutation(np.arange(11) % 3)
        want = stats.kruskal(*(x[lab == g] for g in range(3))).statistic
        if np.ptp(x) == 0:
            continue
        assert kruskal_h(x, 3)(lab[None, :])[0] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_exact_p_is_scipys_exact_permutation_test(seed):
    """scipy.stats.permutation_test with n_resamples=inf lists every relabelling; ours lists distinct labellings."""
    rng = np.random.default_rng(seed)
    x = rng.lognormal(12, 0.5, 9).round(-3)
    lab = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0])
    p, exact, _ = permutation_p(lab, 2, abs_difference(x), None, 1e-9 * x.max())
    ref = stats.permutation_test((x[lab == 1], x[lab == 0]), lambda a, b: abs(a.mean() - b.mean()),
                                 permutation_type="independent", alternative="greater", n_resamples=np.inf)
    assert exact and p == pytest.approx(ref.pvalue, abs=1e-12)
    lab3 = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    p3, exact3, _ = permutation_p(lab3, 3, kruskal_h(x, 3), None, 1e-9)
    ref3 = stats.permutation_test(tuple(x[lab3 == g] for g in range(3)), lambda *g: stats.kruskal(*g).statistic,
                                  permutation_type="independent", alternative="greater", n_resamples=np.inf)
    assert exact3 and p3 == pytest.approx(ref3.pvalue, abs=1e-12)


def test_labellings_lists_each_distinct_labelling_once():
    lab = np.array([0, 0, 1, 2, 2, 1, 0])
    got = {tuple(r) for r in labellings(lab, 3)}
    assert got == set(brute.distinct_labellings(lab.tolist())) and len(got) == len(labellings(lab, 3))
    assert labellings(np.array([0] * 20 + [1] * 10), 2) is None  # C(30, 10) is too many to list


def test_known_only_p_and_cannot_be_tested_are_those_of_every_labelling():
    """Known CCGs of three levels: the exact p of both tests is the count over every relabelling listed here."""
    codes = [f"C{i}" for i in range(10)]
    lv = ["delegated", "joint", "delegated", "none", "joint", "delegated", "none", "joint", "delegated", "unknown"]
    pop = dict(zip(codes, [400e3, 150e3, 520e3, 90e3, 200e3, 610e3, 130e3, 170e3, 380e3, 250e3]))
    res = size_by_level(pd.Series(lv, index=codes), pop)
    known = [i for i, v in enumerate(lv) if v != "unknown"]
    x = [pop[codes[i]] for i in known]
    full = [{"delegated": 0, "joint": 1, "none": 3}[lv[i]] for i in known]
    binary = [int(lv[i] == D) for i in known]
    p_kw, _ = brute.exact_p(full, lambda lab: brute.kruskal_h(lab, x))
    p_d, _ = brute.exact_p(binary, lambda lab: brute.abs_diff(lab, x))
    assert res.coverage.n_excluded_unknown == 1 and res.n_used == 9
    assert res.kruskal_exact and res.kruskal_p == pytest.approx(p_kw, abs=1e-12)
    assert res.diff_exact and res.diff_p_two_sided == pytest.approx(p_d, abs=1e-12)
    assert res.diff == pytest.approx(np.mean([x[i] for i in range(9) if binary[i]]) -
                                     np.mean([x[i] for i in range(9) if not binary[i]]))
    # one delegated CCG among six: no relabelling gives p < 0.05 (smallest 1/6 two-sided at best)
    few = size_by_level(pd.Series(["delegated"] + ["joint"] * 5, index=codes[:6]), pop)
    _, p_min = brute.exact_p([1, 0, 0, 0, 0, 0], lambda lab: brute.abs_diff(lab, [pop[c] for c in codes[:6]]))
    assert p_min >= 0.05 and few.diff_not_run.reason == "cannot_reject"
    assert few.diff_p_min == pytest.approx(p_min)


def test_the_panel_summary_carries_the_size_result():
    codes = [f"C{i}" for i in range(8)]
    lv = pd.Series(["delegated", "joint"] * 4, index=codes)
    pop = {c: 100e3 + 37e3 * i for i, c in enumerate(codes)}
    s = analysis.summarise(lv, {c: [] for c in codes}, {c: "T" for c in codes}, {c: 20.0 for c in codes}, pop,
                           permutations=99)
    alone = size_by_level(lv, pop, permutations=99)
    assert s.size is not None and s.size.diff == alone.diff and s.size.kruskal_p == alone.kruskal_p


def _size_truth(t: pd.DataFrame, year: int, cs: list) -> dict[str, dict]:
    """Per size statistic: the known-only exact p and smallest p, the sign, and every admissible completion's
    exact p and sign (the analysed year has two levels, so the full view is delegated against one other)."""
    given = t[f"level_{year}"].tolist()
    pop = t["population"].tolist()
    known = [i for i, g in enumerate(given) if g != "unknown"]
    klab = [int(given[i] == D) for i in known]
    kpop = [pop[i] for i in known]
    defs = {"size.binary": brute.abs_diff, "size.full": brute.kruskal_h}
    out = {}
    for name, f in defs.items():
        p, pmin = brute.exact_p(klab, lambda lab, f=f: f(lab, kpop))
        sign = int(np.sign(np.mean([x for x, b in zip(kpop, klab) if b]) - np.mean([x for x, b in zip(kpop, klab)
                                                                                    if not b])))
        memo: dict = {}
        comps = []
        for lab in admissible(t, year, cs):
            if len(set(lab)) < 2:
                comps.append((math.nan, 0))
                continue
            cp, _ = brute.exact_p(lab, lambda lab2, f=f: f(lab2, pop), memo=memo)
            d = np.mean([v for v, b in zip(pop, lab) if b]) - np.mean([v for v, b in zip(pop, lab) if not b])
            comps.append((cp, int(np.sign(d))))
        out[name] = {"p": p, "p_min": pmin, "sign": sign, "completions": comps}
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_size_verdicts_and_extremes_are_those_of_every_admissible_completion(case):
    year, given, imd, lo_hi = CASES[case]
    t, nb, cs = grid_case(year, given, [float(v) for v in imd], lo_hi)
    t["population"] = [float(v) for v in POPULATION]
    want = _size_truth(t, year, cs)
    r = robust.robust_statistics(t, nb, cs, year, completions=40, seed=3)
    for name, w in want.items():
        s = r.statistic(name)
        k = s.known_only
        assert s.label.startswith("Size")
        if w["p_min"] >= 0.05:
            assert k.not_run == "cannot_reject" and s.verdict.code == "not_run", (case, name)
            continue
        assert k.not_run is None and k.exact and k.p == pytest.approx(w["p"], abs=1e-12), (case, name)
        every = [agrees(k.significant, w["sign"], p, sg, name == "size.binary") for p, sg in w["completions"]]
        assert (s.verdict.code == "holds") == all(every), (case, name, s.verdict.words)
        if not all(every):
            assert "whatever" not in s.verdict.words, (case, name)
        tested = [p for p, _ in w["completions"] if math.isfinite(p)]
        assert min(tested) - 1e-12 <= s.low.p and s.high.p <= max(tested) + 1e-12, (case, name)
        if s.low.exact:  # listed, or the 2015/16 regional programme: the true lowest p
            assert s.low.p == pytest.approx(min(tested), abs=1e-12), (case, name)
        if name == "size.binary" and k.significant:
            larger = "larger" if w["sign"] > 0 else "smaller"
            assert f"Delegated CCGs were {larger}" in s.finding


def test_without_population_the_size_tests_say_they_cannot_run():
    year, given, imd, lo_hi = CASES["2016_mixed"]
    t, nb, cs = grid_case(year, given, [float(v) for v in imd], lo_hi)
    r = robust.robust_statistics(t, nb, cs, year, completions=10, seed=1)
    for name in ("size.binary", "size.full"):
        s = r.statistic(name)
        assert s.known_only.not_run is not None and s.verdict.code in ("not_run", "untested")
        assert "whatever" not in s.verdict.words


def _texts(node) -> list[str]:  # noqa: ANN001
    """Every string in a Dash component tree, in order."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, (list, tuple)):
        return [t for child in node for t in _texts(child)]
    children = getattr(node, "children", None)
    return _texts(children) if children is not None else []


def _graphs(node) -> list:  # noqa: ANN001
    if isinstance(node, (list, tuple)):
        return [g for child in node for g in _graphs(child)]
    found = [node] if type(node).__name__ == "Graph" else []
    children = getattr(node, "children", None)
    return found + (_graphs(children) if children is not None else [])


def test_the_clustering_panel_asks_the_size_question_and_charts_every_ccg(service):
    from dashboard import figures
    from dashboard.page.clustering_view import clustering_panel
    from dashboard.state import ViewState

    state = ViewState(year=2016, regions=("London",))
    panel = clustering_panel(service, state)
    text = " ".join(_texts(panel))
    assert "Were larger CCGs more likely to take delegation?" in text
    assert "Size (delegated vs not delegated): mean population" in text and "Size (full levels):" in text
    view = service.view(state)
    t = service.table
    chart = figures.size_by_level_figure(view)
    want = sorted(np.round(t.loc[view.mask, "population"].astype(float) / 1000, 1).tolist())
    assert sorted(x for tr in chart["data"] for x in tr["x"]) == want  # every CCG in the filter, once
    names = {tr["name"].split("<br>")[0] for tr in chart["data"]}
    assert "Unknown" in " ".join(names)
    # The page's compact form names the same CCGs by their rows in the table (the map's customdata order).
    wire = figures.size_by_level_figure(view, wire=True)
    custom = figures.map_figure(view).data[figures.T_CCG].customdata  # what the page holds from its first load
    rows = [[i for i, c in enumerate(wire["rowTrace"]) if c == str(k)] for k in range(len(wire["data"]))]
    filled = [{key: [custom[r][at] for r in rs] for key, at in wire["fromMap"].items()} for rs in rows]
    assert [f["text"] for f in filled] == [tr["text"] for tr in chart["data"]]
    assert [f["x"] for f in filled] == [tr["x"] for tr in chart["data"]]
    assert not any("x" in wt or "text" in wt for wt in wire["data"])  # only row numbers travel
    s = size_by_level(pd.Series(view.level, index=t.index), t["population"], mask=view.mask)
    assert f"{round(s.by_binary.set_index('level')['mean']['delegated'], -3):,.0f}" in text


def test_the_robustness_panel_says_which_verdicts_depend_on_the_prior(service):
    from dashboard.page.robust_view import prior_section, robust_section
    from dashboard.prior_sensitivity import cell_words, sensitivity_for
    from dashboard.state import ViewState

    state = ViewState(year=2015, area_teams=("West Yorkshire",))
    assert "Verdict under both priors" not in _texts(robust_section(service, state))  # asked for, not by default
    panel = prior_section(service, state)
    text = _texts(panel)
    assert "Verdict under both priors" in text
    by_prior = {p: robust.robust_for(service, state, prior=p) for p in ("uniform-histories", "two-stage")}
    for s in sensitivity_for(service, state):
        want = {p: r.statistic(s.name).verdict.code for p, r in by_prior.items()}
        assert s.same == (len(set(want.values())) == 1)
        assert cell_words(s) in text
        assert cell_words(s).startswith("Same" if s.same else "Depends on the assumptions:")
    assert "Size (delegated vs not delegated)" in " ".join(text)


@pytest.mark.parametrize("state", [dict(year=2016, regions=("London",)), dict(year=2016)], ids=["london", "england"])
def test_size_verdicts_are_the_same_for_seeds_1_to_10(service, state):
    """2015/16 views are in tests/test_verdicts.py's seed test (every statistic, size included)."""
    from dashboard.state import ViewState

    view = ViewState(**state)
    codes = {seed: tuple(robust.robust_for(service, view, seed=seed).statistic(n).verdict.code
                         for n in ("size.binary", "size.full")) for seed in range(1, 11)}
    assert len(set(codes.values())) == 1, codes


def test_the_page_checks_the_other_prior_only_when_asked():
    """The check under the other prior costs a robust check more per view, so the page runs it only when its box is
    ticked: unticked, the callback answers an empty section; ticked, each finding's verdict under both priors."""
    import json

    import app as app_module
    from dashboard import ids
    from dashboard.prior_sensitivity import cell_words, sensitivity_for
    from dashboard.state import ViewState

    key = next(k for k in app_module.app.callback_map if ids.PRIOR_SENSITIVITY in k)
    store = {"year": 2015, "area_teams": ["West Yorkshire"], "regions": [], "imd": [1, 5], "ccgs": [],
             "view": "level"}

    def ask(ticked: list[str]) -> list:
        body = {"output": key, "outputs": {"id": ids.PRIOR_SENSITIVITY, "property": "children"},
                "inputs": [{"id": ids.STATS_VIEW, "property": "data", "value": {"view": store, "n": 1}},
                           {"id": ids.PRIOR_CHECK, "property": "value", "value": ticked}],
                "changedPropIds": [f"{ids.PRIOR_CHECK}.value"]}
        resp = app_module.server.test_client().post("/_dash-update-component", json=body)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return json.loads(resp.get_data(as_text=True))["response"][ids.PRIOR_SENSITIVITY]["children"]

    assert ask([]) == []

    def strings(node) -> list[str]:  # noqa: ANN001
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [t for child in node for t in strings(child)]
        if isinstance(node, dict):
            return strings(node.get("props", {}).get("children"))
        return []

    text = strings(ask(["on"]))
    service = app_module.server.extensions["atlas_service"]
    for s in sensitivity_for(service, ViewState(year=2015, area_teams=("West Yorkshire",))):
        assert cell_words(s) in text
