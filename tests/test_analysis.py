"""Tests for dashboard.analysis (one section per module) and for the readings of constructed cases.

Constructed cases with known answers, degenerate inputs, the reasons a test is not run, the fast paths against
the full functions, the caller-owned relabelling store, and properties on random graphs.
"""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats

from dashboard import analysis as an
from dashboard.analysis._selection import edges, encode, select
from dashboard.analysis.concordance import MIN_TEAM_KNOWN, concordance_stat
from dashboard.analysis.deprivation import difference_stat
from dashboard.analysis.join_counts import join_count_stat
from dashboard.analysis.local_clusters import local_stat
from dashboard.page import clustering_readings as cr
from geodata.vocabulary import LEVELS, UNKNOWN

# ----------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------


def code(r: int, c: int) -> str:
    return f"E38{r:02d}{c:02d}"


def grid(rows: int, cols: int, queen: bool = False) -> dict[str, list[str]]:
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if queen:
        steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    return {
        code(r, c): [code(r + dr, c + dc) for dr, dc in steps if 0 <= r + dr < rows and 0 <= c + dc < cols]
        for r in range(rows)
        for c in range(cols)
    }


def grid_levels(rows: int, cols: int, fn) -> pd.Series:
    return pd.Series({code(r, c): fn(r, c) for r in range(rows) for c in range(cols)})


def checkerboard(rows: int = 8, cols: int = 8) -> pd.Series:
    return grid_levels(rows, cols, lambda r, c: "delegated" if (r + c) % 2 == 0 else "joint")


def blocks(rows: int = 8, cols: int = 8) -> pd.Series:
    return grid_levels(rows, cols, lambda r, c: "delegated" if c < cols // 2 else "joint")


def brute_same_pairs(levels: pd.Series, neighbours: dict[str, list[str]]) -> dict[str, int]:
    """Same-level neighbour pairs by brute force; the graph is simple, so a pair listed twice counts once."""
    known = levels[levels != UNKNOWN]
    out: dict[str, int] = {}
    seen: set[frozenset[str]] = set()
    for a, nbs in neighbours.items():
        for b in nbs:
            pair = frozenset((a, b))
            if a in known.index and b in known.index and a != b and pair not in seen:
                seen.add(pair)
                if known[a] == known[b]:
                    out[known[a]] = out.get(known[a], 0) + 1
    return out


# ----------------------------------------------------------------------------------------------------------
# _selection: input handling, edges and the binary view
# ----------------------------------------------------------------------------------------------------------


def test_delegation_binary_maps_every_known_lower_level_to_not_delegated():
    lv = pd.Series({"a": "delegated", "b": "joint", "c": "greater_involvement", "d": "none",
                    "e": "not_delegated", "f": "unknown", "g": None})
    out = an.delegation_binary(lv)
    assert out.to_dict() == {"a": "delegated", "b": "not_delegated", "c": "not_delegated",
                             "d": "not_delegated", "e": "not_delegated", "f": "unknown", "g": "unknown"}


def test_unrecognised_level_and_duplicate_codes_raise():
    with pytest.raises(ValueError, match="unrecognised"):
        an.join_counts(pd.Series({"a": "Delegated"}), {})
    with pytest.raises(ValueError, match="duplicate"):
        an.join_counts(pd.Series(["joint", "joint"], index=["a", "a"]), {})


def test_edges_form_a_simple_graph():
    codes = np.array(["a", "b", "c"], dtype=object)
    ei, ej = edges(codes, {"a": ["b", "b", "a"], "c": ["b"], "x": ["a"]})  # duplicate, self-loop, one-way, stranger
    assert list(zip(ei.tolist(), ej.tolist())) == [(0, 1), (1, 2)]


def test_levels_key_is_order_independent_and_keeps_unknowns():
    lv = pd.Series({"b": "joint", "a": None, "c": "delegated"})
    assert an.levels_key(lv) == an.levels_key(lv.sample(frac=1, random_state=0))
    assert an.levels_key(lv) == (("a", "unknown"), ("b", "joint"), ("c", "delegated"))


# ----------------------------------------------------------------------------------------------------------
# permutations: the caller-owned store
# ----------------------------------------------------------------------------------------------------------


def test_tables_are_permutations_with_their_inverse_and_read_only():
    t = an.make_tables(7, 50, seed=3)
    assert (np.sort(t.perm, axis=1) == np.arange(7)).all()
    assert (np.take_along_axis(t.perm, t.inv, axis=1) == np.arange(7)).all()
    assert (t.perm_t == t.perm.T).all() and t.n == 7 and t.permutations == 50
    with pytest.raises(ValueError):
        t.perm[0, 0] = 1
    with pytest.raises(ValueError, match="permutations"):
        an.make_tables(3, 0, 0)


def test_permutation_store_is_bounded_and_reuses_entries():
    store = an.PermutationTables(max_entries=2)
    a = store.get(10, 99, 0)
    assert store.get(10, 99, 0) is a and store.hits == 1 and store.misses == 1
    store.get(11, 99, 0)
    store.get(12, 99, 0)  # evicts (10, 99, 0), the least recently used
    assert len(store) == 2
    assert store.get(10, 99, 0) is not a
    assert (store.get(10, 99, 0).perm == a.perm).all()  # same seed, same relabellings
    with pytest.raises(ValueError):
        an.PermutationTables(max_entries=0)


def test_permutation_store_is_thread_safe():
    store = an.PermutationTables(max_entries=3)
    got: list[an.Tables] = []

    def work(i: int) -> None:
        for k in range(20):
            got.append(store.get(5 + (i + k) % 4, 49, 0))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 120 and len(store) <= 3 and store.hits + store.misses == 120
    assert all((np.sort(t.perm, axis=1) == np.arange(t.n)).all() for t in got)


def test_no_module_level_cache_survives():
    for name in ("register_geography", "summarise_cached", "cache_info", "clear_cache"):
        assert not hasattr(an, name)


def test_summarise_uses_the_callers_store_and_matches_on_the_fly_tables():
    nb, teams, imd, pop = _geo(6, 8)
    lv = grid_levels(6, 8, lambda r, c: "delegated" if c < 4 else "joint")
    store = an.PermutationTables()
    first = an.summarise(lv, nb, teams, imd, pop, permutations=99, tables=store)
    assert store.misses == 1 and store.hits >= 5  # one set of relabellings for every statistic and view
    again = an.summarise(lv, nb, teams, imd, pop, permutations=99, tables=store)
    assert store.misses == 1
    fresh = an.summarise(lv, nb, teams, imd, pop, permutations=99)
    for s in (again, fresh):
        pd.testing.assert_frame_equal(first.full.local.table, s.full.local.table)
        assert first.full.concordance.p_value == s.full.concordance.p_value
        assert first.deprivation.diff_p_two_sided == s.deprivation.diff_p_two_sided


# ----------------------------------------------------------------------------------------------------------
# Join counts
# ----------------------------------------------------------------------------------------------------------


def test_checkerboard_is_strongly_dispersed():
    res = an.join_counts(checkerboard(), grid(8, 8), permutations=999, seed=1)
    assert res.n_joins == 2 * 8 * 7
    assert res.total_observed == 0
    assert res.total_expected > 40
    assert res.total_p_dispersion <= 0.002
    assert res.total_p_cluster == 1.0
    assert res.total_z < -5
    assert (res.per_level["observed"] == 0).all()
    assert (res.per_level["p_dispersion"] <= 0.01).all()


def test_two_solid_blocks_are_strongly_clustered():
    res = an.join_counts(blocks(), grid(8, 8), permutations=999, seed=2)
    # all joins except the 8 across the boundary are same-level
    assert res.total_observed == 112 - 8
    assert res.total_observed > res.total_expected + 30
    assert res.total_p_cluster <= 0.01
    assert res.total_p_dispersion > 0.5
    assert (res.per_level["p_cluster"] <= 0.01).all()
    assert res.total_p_two_sided == pytest.approx(min(1.0, 2 * res.total_p_cluster))


def test_permutation_mean_matches_analytic_expectation():
    rng = np.random.default_rng(5)
    nb = grid(11, 19, queen=True)
    lv = pd.Series(rng.choice(["delegated", "joint", "none"], size=len(nb)), index=list(nb))
    res = an.join_counts(lv, nb, permutations=2000, seed=3)
    np.testing.assert_allclose(res.per_level["expected"], res.per_level["expected_analytic"], rtol=0.05)
    assert res.total_expected == pytest.approx(res.total_expected_analytic, rel=0.02)


def test_multi_category_counts_match_brute_force():
    rng = np.random.default_rng(7)
    nb = grid(6, 7, queen=True)
    lv = pd.Series(rng.choice(list(LEVELS) + [UNKNOWN], size=len(nb)), index=list(nb))
    res = an.join_counts(lv, nb, permutations=9)
    expected = brute_same_pairs(lv, nb)
    got = dict(zip(res.per_level["level"], res.per_level["observed"]))
    assert {k: v for k, v in got.items() if v} == expected
    assert res.total_observed == sum(expected.values())
    assert list(res.per_level["level"]) == [lv_ for lv_ in LEVELS if lv_ in set(lv) - {UNKNOWN}]


def test_neighbour_listed_twice_is_one_pair():
    lv = pd.Series({"a": "joint", "b": "joint", "c": "delegated", "d": "delegated", "e": "joint"})
    once = {"a": ["b"], "b": ["c"], "c": ["d"], "d": ["e"]}
    twice = {"a": ["b", "b"], "b": ["a", "c"], "c": ["d", "b"], "d": ["e", "c", "c"]}
    a, b = an.join_counts(lv, once, permutations=99), an.join_counts(lv, twice, permutations=99)
    assert a.n_joins == b.n_joins == 4 and a.total_observed == b.total_observed == 2
    assert a.total_p_cluster == b.total_p_cluster


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_binary_join_counts_agree_with_esda():
    esda = pytest.importorskip("esda")
    libpysal = pytest.importorskip("libpysal")
    rng = np.random.default_rng(11)
    nb = grid(9, 9)
    lv = pd.Series(rng.choice(["delegated", "joint", "none"], size=len(nb), p=[0.4, 0.4, 0.2]),
                   index=list(nb))
    binary = an.delegation_binary(lv)
    res = an.join_counts(binary, nb, permutations=999, seed=0)
    w = libpysal.weights.W({k: list(v) for k, v in nb.items()}, silence_warnings=True)
    y = (binary.reindex(w.id_order) == "delegated").astype(int).to_numpy()
    jc = esda.Join_Counts(y, w, permutations=199)
    rows = res.per_level.set_index("level")
    assert rows.loc["delegated", "observed"] == jc.bb
    assert rows.loc["not_delegated", "observed"] == jc.ww
    assert rows.loc["delegated", "expected"] == pytest.approx(jc.mean_bb, rel=0.1)


def test_unknown_ccgs_are_excluded_and_counted():
    nb = grid(8, 8)
    lv = blocks()
    with_unknown = lv.copy()
    gone = [code(0, 0), code(3, 3), code(7, 6)]
    with_unknown[gone[:2]] = UNKNOWN
    with_unknown[gone[2]] = np.nan  # missing counts as unknown
    res = an.join_counts(with_unknown, nb, permutations=99)
    ref = an.join_counts(lv.drop(gone), nb, permutations=99)
    assert res.coverage.n_used == 61
    assert res.coverage.n_excluded_unknown == 3
    assert set(res.coverage.excluded_unknown) == set(gone)
    assert res.total_observed == ref.total_observed
    assert res.n_joins == ref.n_joins
    pd.testing.assert_frame_equal(res.per_level, ref.per_level)


def test_island_is_reported_not_dropped():
    nb = grid(4, 4)
    nb["IOW"] = []  # Isle of Wight: no neighbours at all
    lv = grid_levels(4, 4, lambda r, c: "joint")
    lv["IOW"] = "delegated"
    lv[code(0, 1)] = UNKNOWN
    lv[code(1, 0)] = UNKNOWN  # code(0, 0) now has only unknown neighbours
    res = an.join_counts(lv, nb, permutations=99)
    assert res.coverage.n_islands == 2
    assert set(res.coverage.islands) == {"IOW", code(0, 0)}
    assert res.coverage.n_used == 15
    loc = an.local_clusters(lv, nb, permutations=99)
    t = loc.table.set_index("ccg_code")
    assert bool(t.loc["IOW", "island"]) and not bool(t.loc["IOW", "significant"])
    assert t.loc["IOW", "n_neighbours"] == 0 and math.isnan(t.loc["IOW", "p_value"])
    assert loc.coverage.n_islands == 2 and loc.n_tested == 13


def test_mask_uses_induced_subgraph():
    nb = grid(8, 8)
    lv = blocks()
    mask = pd.Series({c: int(c[-2:]) < 4 for c in lv.index})  # only the left ("delegated") block
    res = an.join_counts(lv, nb, permutations=99, mask=mask)
    assert res.coverage.n_used == 32
    assert res.n_joins == 8 * 3 + 7 * 4  # rook joins of the 8x4 block only
    assert res.total_observed == 52
    assert res.not_run == an.NotRun("one_level", {"level": "delegated", "n_known": 32})
    # a boolean array mask in the order of `levels` behaves the same
    res2 = an.join_counts(lv, nb, permutations=99, mask=mask.reindex(lv.index).to_numpy())
    assert res2.total_observed == 52


def test_same_seed_same_results_and_input_order_irrelevant():
    rng = np.random.default_rng(3)
    nb = grid(7, 9, queen=True)
    lv = pd.Series(rng.choice(["delegated", "joint", "none", "unknown"], size=len(nb)), index=list(nb))
    a = an.join_counts(lv, nb, permutations=199, seed=42)
    b = an.join_counts(lv.sample(frac=1, random_state=1), nb, permutations=199, seed=42)
    pd.testing.assert_frame_equal(a.per_level, b.per_level)
    assert a.total_p_cluster == b.total_p_cluster
    la = an.local_clusters(lv, nb, permutations=199, seed=42)
    lb = an.local_clusters(lv, nb, permutations=199, seed=42)
    pd.testing.assert_frame_equal(la.table, lb.table)
    ca = an.area_team_concordance(lv, pd.Series({c: c[3:5] for c in nb}), permutations=199, seed=42)
    cb = an.area_team_concordance(lv, pd.Series({c: c[3:5] for c in nb}), permutations=199, seed=42)
    assert ca.p_value == cb.p_value
    pd.testing.assert_frame_equal(ca.per_team, cb.per_team)
    other = an.local_clusters(lv, nb, permutations=199, seed=43)
    assert not other.table["p_value"].equals(la.table["p_value"])


@pytest.mark.parametrize(
    "levels, neighbours, reason",
    [
        (pd.Series({"a": "joint", "b": "delegated"}), {"a": ["b"]}, "too_few_known"),
        (pd.Series({c: "joint" for c in "abcdef"}), {"a": ["b"], "c": ["d"]}, "one_level"),
        (pd.Series({c: ["joint", "delegated"][i % 2] for i, c in enumerate("abcdef")}), {}, "no_pairs"),
    ],
)
def test_join_counts_not_run_says_why_and_keeps_the_count(levels, neighbours, reason):
    res = an.join_counts(levels, neighbours, permutations=49)
    assert res.not_run is not None and res.not_run.reason == reason and not res.enough_data
    assert math.isnan(res.total_p_cluster) and math.isnan(res.total_expected)
    assert res.total_observed == sum(brute_same_pairs(levels, neighbours).values())


def test_join_count_fast_path_matches_the_full_function():
    rng = np.random.default_rng(21)
    nb = grid(8, 9, queen=True)
    lv = pd.Series(rng.choice(["delegated", "joint", "none"], size=len(nb)), index=list(nb))
    full = an.join_counts(lv, nb, permutations=199, seed=5)
    sel = select(lv)
    lab, _ = encode(sel.labels)
    fast = join_count_stat(lab, *edges(sel.codes, nb), an.make_tables(len(lab), 199, 5))
    assert fast.observed == full.total_observed
    assert fast.expected == pytest.approx(full.total_expected)
    assert (fast.p_cluster, fast.p_dispersion) == (full.total_p_cluster, full.total_p_dispersion)


# ----------------------------------------------------------------------------------------------------------
# Area-team concordance
# ----------------------------------------------------------------------------------------------------------


def test_single_uniform_team_has_concordance_one_without_raising():
    lv = pd.Series({"a": "joint", "b": "joint", "c": "joint", "d": UNKNOWN})
    teams = pd.Series({"a": "T1", "b": "T1", "c": "T1", "d": "T1"})
    res = an.area_team_concordance(lv, teams, permutations=99)
    row = res.per_team.iloc[0]
    assert row["modal_share"] == 1.0 and row["modal_level"] == "joint"
    assert row["n_known"] == 3 and row["n_unknown"] == 1 and row["n_modal"] == 3
    assert res.coverage.n_excluded_unknown == 1
    assert not res.enough_data and math.isnan(res.cramers_v)
    assert res.modal_agreement == 1.0


def test_split_team_is_half_and_table_ranks_teams_with_enough_known_ccgs():
    lv = pd.Series({"a": "joint", "b": "delegated", "c": "joint", "d": "delegated",
                    "e": "none", "f": "none", "g": "none", "h": "joint", "i": "joint", "u": UNKNOWN,
                    "j": "joint", "k": "joint", "l": "joint", "m": "joint"})
    teams = pd.Series({"a": "Split", "b": "Split", "c": "Split", "d": "Split",
                       "e": "Uniform", "f": "Uniform", "g": "Uniform", "h": "Pair", "i": "Pair",
                       "u": "OnlyUnknown", "j": "Big", "k": "Big", "l": "Big", "m": "Big"})
    res = an.area_team_concordance(lv, teams, permutations=99)
    t = res.per_team
    # ranked (>= MIN_TEAM_KNOWN known) most uniform first, ties broken by n_known desc; then the unranked
    assert MIN_TEAM_KNOWN == 3
    assert list(t["team"]) == ["Big", "Uniform", "Split", "Pair", "OnlyUnknown"]
    assert t["ranked"].tolist() == [True, True, True, False, False]
    split = t.set_index("team").loc["Split"]
    assert split["modal_share"] == 0.5 and bool(split["modal_tie"]) and split["n_modal"] == 2
    assert split["delegated"] == 2 and split["joint"] == 2
    pair = t.set_index("team").loc["Pair"]
    assert pair["modal_share"] == 1.0 and not pair["ranked"]  # 2 of 2 is not "most uniform"
    only = t.set_index("team").loc["OnlyUnknown"]
    assert only["n_known"] == 0 and only["n_unknown"] == 1 and math.isnan(only["modal_share"])


def test_cramers_v_is_one_when_team_determines_level():
    levels = ["delegated", "joint", "none"]
    lv = pd.Series({f"c{i}": levels[i % 3] for i in range(60)})
    teams = pd.Series({f"c{i}": f"T{i % 3}" for i in range(60)})
    res = an.area_team_concordance(lv, teams, permutations=999, seed=0)
    assert res.cramers_v == pytest.approx(1.0)
    assert res.cramers_v_corrected == pytest.approx(1.0, abs=0.02)
    assert res.p_value <= 0.002
    assert res.modal_agreement == 1.0 and res.modal_agreement_p <= 0.002
    assert res.chi2_dof == 4


def test_cramers_v_near_zero_for_random_levels():
    rng = np.random.default_rng(0)
    n = 600
    lv = pd.Series(rng.choice(["delegated", "joint"], size=n), index=[f"c{i}" for i in range(n)])
    teams = pd.Series(rng.choice(["A", "B", "C", "D"], size=n), index=lv.index)
    res = an.area_team_concordance(lv, teams, permutations=499, seed=0)
    assert res.cramers_v < 0.15
    assert res.cramers_v_corrected < 0.1
    assert res.p_value > 0.01
    # V is biased upwards with many small teams: the permutation expectation says how much
    assert res.cramers_v_expected == pytest.approx(math.sqrt(3 / n), rel=0.5)


def test_chi2_matches_scipy():
    rng = np.random.default_rng(4)
    lv = pd.Series(rng.choice(["delegated", "joint", "none"], size=120), index=[f"c{i}" for i in range(120)])
    teams = pd.Series(rng.choice(list("ABCDE"), size=120), index=lv.index)
    res = an.area_team_concordance(lv, teams, permutations=99)
    table = pd.crosstab(teams, lv)
    chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
    assert res.chi2 == pytest.approx(chi2)
    assert res.chi2_p_asymptotic == pytest.approx(p)
    assert res.chi2_dof == dof


def test_ccg_without_team_is_reported():
    lv = pd.Series({"a": "joint", "b": "delegated", "c": "joint"})
    res = an.area_team_concordance(lv, pd.Series({"a": "T", "b": "T"}), permutations=9)
    assert res.n_excluded_no_team == 1 and res.excluded_no_team == ("c",)
    assert res.coverage.n_used == 2


def test_one_team_is_not_run():
    lv = pd.Series({f"c{i}": ["joint", "delegated"][i % 2] for i in range(8)})
    res = an.area_team_concordance(lv, {f"c{i}": "Only" for i in range(8)}, permutations=49)
    assert res.not_run == an.NotRun("one_team", {"team": "Only", "n_known": 8})
    assert math.isnan(res.p_value) and res.modal_agreement == 0.5


def test_concordance_fast_path_matches_the_full_function():
    rng = np.random.default_rng(6)
    lv = pd.Series(rng.choice(["delegated", "joint", "none"], size=90), index=[f"c{i:02d}" for i in range(90)])
    teams = pd.Series(rng.choice(list("ABCD"), size=90), index=lv.index)
    full = an.area_team_concordance(lv, teams, permutations=199, seed=2)
    sel = select(lv)
    lab, cats = encode(sel.labels)
    names = sorted(set(teams))
    tidx = np.array([names.index(teams[c]) for c in sel.codes])
    fast = concordance_stat(lab, tidx, len(names), len(cats), an.make_tables(90, 199, 2))
    assert fast.cramers_v == pytest.approx(full.cramers_v) and fast.p_value == full.p_value


# ----------------------------------------------------------------------------------------------------------
# Local clusters
# ----------------------------------------------------------------------------------------------------------


def test_local_clusters_flag_block_interiors_not_checkerboard():
    # queen contiguity: an interior CCG with 8 of 8 same-level neighbours has p ~ 0.5 ** 8
    res = an.local_clusters(grid_levels(10, 10, lambda r, c: "delegated" if c < 5 else "joint"),
                            grid(10, 10, queen=True), permutations=999, seed=0)
    t = res.table.set_index("ccg_code")
    assert t.loc[code(5, 1), "n_same"] == 8 and t.loc[code(5, 1), "share_same"] == 1.0
    assert bool(t.loc[code(5, 1), "significant"]) and t.loc[code(5, 1), "p_value"] < 0.01
    assert not bool(t.loc[code(5, 4), "significant"])  # on the boundary: 5 of 8 same
    assert res.n_significant > 20
    # rook checkerboard: nobody shares a level with a neighbour
    chk = an.local_clusters(checkerboard(10, 10), grid(10, 10), permutations=999, seed=0)
    assert chk.n_significant == 0
    assert (chk.table["n_same"] == 0).all()
    assert (chk.table["p_value"] == 1.0).all()


def test_local_permutation_p_values_match_hypergeometric():
    rng = np.random.default_rng(9)
    nb = grid(9, 11, queen=True)
    lv = pd.Series(rng.choice(["delegated", "joint", "none"], size=len(nb), p=[0.5, 0.3, 0.2]),
                   index=list(nb))
    res = an.local_clusters(lv, nb, permutations=2999, seed=1)
    t = res.table
    n = len(t)
    sizes = t["level"].map(t["level"].value_counts())
    exact = stats.hypergeom.sf(t["n_same"] - 1, n - 1, sizes - 1, t["n_neighbours"])
    assert np.max(np.abs(t["p_value"] - exact)) < 0.04
    np.testing.assert_allclose(t["expected_same"], t["n_neighbours"] * (sizes - 1) / (n - 1))


def test_local_p_values_exact_on_small_dense_graph():
    # small n and high degree: the CCG itself is often among the first draws, so self-exclusion matters
    rng = np.random.default_rng(4)
    nb = grid(5, 5, queen=True)
    lv = pd.Series(rng.choice(["delegated", "joint"], size=len(nb), p=[0.6, 0.4]), index=list(nb))
    t = an.local_clusters(lv, nb, permutations=9999, seed=0).table
    sizes = t["level"].map(t["level"].value_counts())
    exact = stats.hypergeom.sf(t["n_same"] - 1, len(t) - 1, sizes - 1, t["n_neighbours"])
    assert np.max(np.abs(t["p_value"] - exact)) < 0.025


def test_local_n_same_sums_to_twice_the_same_level_pairs():
    rng = np.random.default_rng(2)
    nb = grid(7, 8, queen=True)
    lv = pd.Series(rng.choice(["delegated", "joint", "unknown"], size=len(nb)), index=list(nb))
    loc = an.local_clusters(lv, nb, permutations=19)
    jc = an.join_counts(lv, nb, permutations=19)
    assert loc.table["n_same"].sum() == 2 * jc.total_observed
    assert loc.coverage.n_excluded_unknown == int((lv == "unknown").sum())


def test_local_clusters_with_one_level_are_not_run_and_flag_nobody():
    res = an.local_clusters(grid_levels(4, 4, lambda r, c: "joint"), grid(4, 4), permutations=49)
    assert res.not_run is not None and res.not_run.reason == "one_level"
    assert res.n_tested == 0 and res.n_significant == 0 and res.n_expected_false_positives == 0
    assert res.table["p_value"].isna().all() and not res.table["significant"].any()
    assert (res.table["n_same"] == res.table["n_neighbours"]).all()


def test_local_fast_path_matches_the_full_function():
    rng = np.random.default_rng(12)
    nb = grid(6, 9, queen=True)
    lv = pd.Series(rng.choice(["delegated", "joint"], size=len(nb)), index=list(nb))
    full = an.local_clusters(lv, nb, permutations=199, seed=4).table
    sel = select(lv)
    lab, _ = encode(sel.labels)
    fast = local_stat(lab, *edges(sel.codes, nb), an.make_tables(len(lab), 199, 4))
    np.testing.assert_array_equal(fast.n_same, full["n_same"])
    np.testing.assert_array_equal(fast.p_value, full["p_value"])


# ----------------------------------------------------------------------------------------------------------
# Deprivation
# ----------------------------------------------------------------------------------------------------------


def test_delegated_more_deprived_gives_positive_difference_and_small_p():
    rng = np.random.default_rng(0)
    idx = [f"c{i}" for i in range(80)]
    lv = pd.Series(["delegated"] * 30 + ["joint"] * 30 + ["none"] * 20, index=idx)
    imd = pd.Series(np.r_[rng.normal(35, 4, 30), rng.normal(22, 4, 50)], index=idx)
    pop = pd.Series(rng.integers(100_000, 500_000, 80), index=idx)
    res = an.deprivation_by_level(lv, imd, pop, permutations=999, seed=0)
    assert res.diff > 8
    assert res.diff_p_greater <= 0.002 and res.diff_p_two_sided <= 0.002
    assert res.diff_p_less > 0.99
    assert res.kruskal_enough_data and res.kruskal_p < 0.001
    h, p = stats.kruskal(imd[:30], imd[30:60], imd[60:])
    assert res.kruskal_h == pytest.approx(h) and res.kruskal_p == pytest.approx(p)
    assert res.epsilon_squared == pytest.approx(h / 79)
    row = res.by_level.set_index("level").loc["delegated"]
    assert row["n"] == 30
    assert row["pop_weighted_mean"] == pytest.approx(np.average(imd[:30], weights=pop[:30]))
    assert row["median"] == pytest.approx(np.median(imd[:30]))
    assert list(res.by_binary["level"]) == ["delegated", "not_delegated"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=6, max_size=60), st.integers(0, 2**32 - 1))
def test_kruskal_with_ties_matches_scipy(scores: list[int], seed: int):
    """Grouping by level, tie handling and the degenerate cases around ``scipy.stats.kruskal``."""
    rng = np.random.default_rng(seed)
    idx = [f"c{i}" for i in range(len(scores))]
    levels = ["delegated", "joint", "greater_involvement"]
    lv = pd.Series([levels[i % 3] for i in rng.permutation(len(scores))], index=idx)
    imd = pd.Series(np.asarray(scores, dtype=float), index=idx)
    res = an.deprivation_by_level(lv, imd, permutations=9, seed=0)
    groups = [imd[lv == level].to_numpy() for level in levels]
    if np.ptp(imd.to_numpy()) == 0:
        assert not res.kruskal_enough_data and res.kruskal_not_run.reason == "same_imd"
        return
    h, p = stats.kruskal(*groups)
    assert res.kruskal_h == pytest.approx(h, rel=1e-9) and res.kruskal_p == pytest.approx(p, rel=1e-9, abs=1e-15)


def test_no_difference_gives_large_p():
    rng = np.random.default_rng(1)
    idx = [f"c{i}" for i in range(100)]
    lv = pd.Series(rng.choice(["delegated", "joint"], size=100), index=idx)
    res = an.deprivation_by_level(lv, pd.Series(rng.normal(25, 5, 100), index=idx), None, permutations=999)
    assert res.diff_p_two_sided > 0.05
    assert res.by_level["pop_weighted_mean"].isna().all()


@pytest.mark.parametrize(
    "levels, imd",
    [
        (pd.Series(dtype=object), pd.Series(dtype=float)),
        (pd.Series({"a": "unknown", "b": "unknown"}), pd.Series({"a": 1.0, "b": 2.0})),
        (pd.Series({"a": "joint", "b": "joint"}), pd.Series({"a": 1.0, "b": 2.0})),
        (pd.Series({"a": "joint", "b": "delegated"}), pd.Series({"a": 3.0, "b": 3.0})),
        (pd.Series({"a": "joint", "b": "delegated"}), pd.Series({"a": np.nan, "b": 3.0})),
    ],
)
def test_degenerate_deprivation_inputs_do_not_raise(levels, imd):
    res = an.deprivation_by_level(levels, imd, None, permutations=99)
    assert not res.kruskal_enough_data and res.kruskal_not_run.reason == "too_few_known"
    assert not res.diff_enough_data and math.isnan(res.diff_p_two_sided)
    assert math.isnan(res.kruskal_h)


@pytest.mark.parametrize(
    "levels, scores, kruskal, diff",
    [
        (["joint"] * 6, [1, 2, 3, 4, 5, 6], "one_level", "one_level"),
        (["joint", "none"] * 3, [1, 2, 3, 4, 5, 6], None, "one_level"),  # binary: all not delegated
        (["joint", "delegated"] * 3, [4] * 6, "same_imd", "same_imd"),
    ],
)
def test_deprivation_not_run_reasons(levels, scores, kruskal, diff):
    idx = [f"c{i}" for i in range(len(levels))]
    res = an.deprivation_by_level(pd.Series(levels, index=idx), pd.Series(scores, index=idx, dtype=float),
                                  permutations=49)
    assert (res.kruskal_not_run.reason if res.kruskal_not_run else None) == kruskal
    assert res.diff_not_run.reason == diff


def test_missing_imd_is_counted():
    lv = pd.Series({"a": "joint", "b": "delegated", "c": "delegated", "d": "unknown"})
    res = an.deprivation_by_level(lv, pd.Series({"a": 10.0, "b": 20.0}), None, permutations=99)
    assert res.n_missing_imd == 1 and res.missing_imd == ("c",)
    assert res.coverage.n_used == 2 and res.coverage.n_excluded_unknown == 1
    assert res.diff == 10.0  # descriptive, given although too few CCGs for the test
    assert res.diff_not_run.reason == "too_few_known"


def test_difference_fast_path_matches_the_full_function():
    rng = np.random.default_rng(3)
    idx = [f"c{i:02d}" for i in range(40)]
    lv = pd.Series(rng.choice(["delegated", "joint"], size=40), index=idx)
    imd = pd.Series(rng.normal(25, 6, 40), index=idx)
    full = an.deprivation_by_level(lv, imd, permutations=199, seed=8)
    fast = difference_stat((lv == "delegated").to_numpy(), imd.to_numpy(), an.make_tables(40, 199, 8))
    assert fast.diff == pytest.approx(full.diff)
    assert (fast.p_greater, fast.p_less, fast.p_two_sided) == (full.diff_p_greater, full.diff_p_less,
                                                                 full.diff_p_two_sided)


# ----------------------------------------------------------------------------------------------------------
# Summary, and its readings (dashboard.page.clustering_readings) on constructed cases
# ----------------------------------------------------------------------------------------------------------


def _geo(rows: int, cols: int):
    nb = grid(rows, cols, queen=True)
    teams = pd.Series({code(r, c): f"T{r // 3}{c // 4}" for r in range(rows) for c in range(cols)})
    imd = pd.Series({code(r, c): 10.0 + 3 * c for r in range(rows) for c in range(cols)})
    pop = pd.Series({k: 250_000 for k in nb})
    return nb, teams, imd, pop


def _texts(s: an.Summary) -> dict[str, str]:
    return {k: r.text for k, r in cr.readings(s).items()}


def test_summarise_clustered_readings():
    nb, teams, imd, pop = _geo(9, 12)
    lv = grid_levels(9, 12, lambda r, c: "delegated" if c >= 6 else ("joint" if r < 5 else "none"))
    lv[code(0, 0)] = UNKNOWN
    lv[code(4, 4)] = UNKNOWN
    s = an.summarise(lv, nb, teams, imd, pop, year=2015, permutations=499)
    r = _texts(s)
    assert s.n_selected == 108 and s.coverage.n_used == 106 and s.coverage.n_excluded_unknown == 2
    assert "2 CCGs of 108 analysed in 2015 were left out" in r["coverage"]
    assert "depend on which CCGs are covered" in r["coverage"]
    assert "more often than chance" in r["join_counts.full"] and "(full levels)" in r["join_counts.full"]
    assert "strong evidence" in r["join_counts.full"]
    assert "(one-sided p = 0.002)" in r["join_counts.full"]  # the smallest p of 499 relabellings
    assert "(delegated vs not delegated)" in r["join_counts.binary"]
    assert f"{s.full.join_counts.total_observed} pairs seen" in r["join_counts.full"]
    assert "more often than chance" in r["concordance.full"]
    assert "delegated CCGs were more deprived" in r["deprivation.binary"]
    assert s.binary.join_counts.per_level["level"].tolist() == ["delegated", "not_delegated"]
    assert s.full.join_counts.per_level["level"].tolist() == ["delegated", "joint", "none"]
    json.dumps(s.to_dict())  # JSON-ready for dcc.Store


def test_summarise_random_says_no_evidence():
    rng = np.random.default_rng(8)
    nb, teams, _, pop = _geo(11, 19)
    lv = pd.Series(rng.choice(["delegated", "joint", "unknown"], size=len(nb)), index=list(nb))
    imd = pd.Series(rng.normal(25, 6, len(nb)), index=list(nb))
    s = an.summarise(lv, nb, teams, imd, pop, permutations=199, seed=0)
    r = _texts(s)
    assert "no evidence of clustering" in r["join_counts.full"]
    assert "no evidence" in r["deprivation.binary"]
    assert "read individual CCGs with caution" in r["local.full"]


@pytest.mark.parametrize(
    "levels",
    [
        pd.Series(dtype=object),
        pd.Series({code(0, 0): "unknown", code(0, 1): "unknown"}),
        pd.Series({code(0, 0): "joint"}),
        pd.Series({code(0, 0): "joint", code(0, 1): "joint"}),
        pd.Series({code(0, 0): "delegated", code(5, 5): "joint"}),  # two islands
    ],
)
def test_summarise_degenerate_selections_do_not_raise(levels):
    nb, teams, imd, pop = _geo(6, 6)
    s = an.summarise(levels, nb, teams, imd, pop, permutations=49)
    r = cr.readings(s)
    assert "left out" in r["coverage"].text
    assert s.coverage.n_used + s.coverage.n_excluded_unknown == len(levels)
    for key in ("join_counts.full", "join_counts.binary", "concordance.full", "concordance.binary", "local.full",
                "local.binary", "deprivation.full", "deprivation.binary"):
        assert r[key].not_run and "cannot be tested" in r[key].text and "evidence" not in r[key].text
    json.dumps(s.to_dict())


def test_summarise_reports_islands():
    nb, teams, imd, pop = _geo(4, 4)
    nb = {**nb, "IOW": []}
    teams = pd.concat([teams, pd.Series({"IOW": "T00"})])
    imd = pd.concat([imd, pd.Series({"IOW": 20.0})])
    lv = grid_levels(4, 4, lambda r, c: "joint" if r < 2 else "delegated")
    lv["IOW"] = "delegated"
    s = an.summarise(lv, nb, teams, imd, None, permutations=49)
    assert s.coverage.n_islands == 1 and s.coverage.islands == ("IOW",)
    assert "IOW" in cr.readings(s)["islands"].text
    assert "Isle of Wight" in cr.readings(s, names={"IOW": "Isle of Wight"})["islands"].text


def test_summarise_mask_filters_selection():
    nb, teams, imd, pop = _geo(6, 6)
    lv = grid_levels(6, 6, lambda r, c: "joint")
    mask = pd.Series({k: k.endswith(("00", "01")) for k in lv.index})
    s = an.summarise(lv, nb, teams, imd, pop, mask=mask, permutations=49)
    assert s.n_selected == 12 and s.coverage.n_used == 12


def test_summary_to_dict_carries_reasons_not_sentences():
    nb, teams, imd, pop = _geo(3, 4)
    s = an.summarise(grid_levels(3, 4, lambda r, c: "delegated"), nb, teams, imd, pop, permutations=49)
    d = json.loads(json.dumps(s.to_dict()))
    assert d["full"]["join_counts"]["not_run"] == {"reason": "one_level",
                                                   "detail": {"level": "delegated", "n_known": 12}}
    assert d["coverage"] == {"n_used": 12, "n_excluded_unknown": 0, "excluded_unknown": [], "islands": []}
    assert d["deprivation"]["coverage"]["islands"] is None


@pytest.mark.parametrize(
    "p, words",
    [(0.0, "strong evidence"), (0.0099, "strong evidence"), (0.01, "evidence"), (0.0499, "evidence"),
     (0.05, "weak evidence"), (0.054, "weak evidence"), (0.074, "weak evidence"), (0.0999, "weak evidence"),
     (0.10, "no evidence"), (1.0, "no evidence"), (math.nan, "no test")],
)
def test_evidence_is_graded_at_the_boundaries(p, words):
    assert cr.evidence(p) == words


@pytest.mark.parametrize(
    "why, view, text",
    [
        (an.NotRun("one_level", {"level": "delegated", "n_known": 9}), "full",
         "all 9 CCGs of known level are delegated"),
        (an.NotRun("one_level", {"level": "not_delegated", "n_known": 6}), "binary",
         "all 6 CCGs of known level are not delegated"),
        (an.NotRun("too_few_known", {"n_known": 1, "minimum": 5}), "full",
         "only 1 CCG of known level, fewer than the 5 a test needs"),
        (an.NotRun("too_few_known", {"n_known": 0, "minimum": 5}), "full", "no CCG in the filter has a known level"),
        (an.NotRun("one_team", {"team": "Essex", "n_known": 7}), "full",
         "all 7 CCGs of known level are in one area team, Essex"),
        (an.NotRun("no_pairs", {"n_known": 5}), "full", "no two of the 5 CCGs of known level are neighbours"),
    ],
)
def test_reasons_are_worded_from_their_codes(why, view, text):
    assert cr.why_not_run(why, view) == text


def test_technical_terms_are_explained_once_where_they_appear():
    a = cr.Reading("x", ("cramers_v",))
    b = cr.Reading("y", ("cramers_v", "kruskal"))
    hint = cr.explain([a, b])
    assert hint is not None and hint.count("Cramér's V") == 1 and "Kruskal-Wallis" in hint
    assert cr.explain([cr.Reading("z")]) is None


# ----------------------------------------------------------------------------------------------------------
# Properties
# ----------------------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(list(LEVELS) + [UNKNOWN]), min_size=0, max_size=30),
    st.lists(st.tuples(st.integers(0, 29), st.integers(0, 29)), max_size=60),
    st.integers(0, 2**16),
)
@example(labels=["delegated", "delegated"], pairs=[(0, 1), (0, 1)], seed=0)  # a neighbour listed twice: one pair
@example(labels=["joint"] * 3 + ["delegated"] * 3, pairs=[(0, 1), (0, 1), (1, 0), (2, 3), (4, 5)], seed=1)
def test_properties_on_random_graphs(labels, pairs, seed):
    codes = [f"c{i:02d}" for i in range(len(labels))]
    lv = pd.Series(labels, index=codes, dtype=object)
    nb: dict[str, list[str]] = {c: [] for c in codes}
    for a, b in pairs:
        if a < len(codes) and b < len(codes):
            nb[codes[a]].append(codes[b])
            nb[codes[b]].append(codes[a])
    jc = an.join_counts(lv, nb, permutations=19, seed=seed)
    loc = an.local_clusters(lv, nb, permutations=19, seed=seed)
    assert jc.total_observed == sum(brute_same_pairs(lv, nb).values())
    assert jc.coverage.n_used + jc.coverage.n_excluded_unknown == len(codes)
    assert loc.table["n_same"].sum() == 2 * jc.total_observed
    assert set(loc.table.loc[loc.table["island"], "ccg_code"]) == set(jc.coverage.islands)
    ps = loc.table["p_value"].dropna()
    assert ((ps > 0) & (ps <= 1)).all()
    assert jc.enough_data == loc.enough_data  # same reasons: too few known, one level, no pairs
    if jc.enough_data:
        for p in (jc.total_p_cluster, jc.total_p_dispersion):
            assert 0 < p <= 1
    else:
        assert jc.not_run.reason in {"too_few_known", "one_level", "no_pairs"}
        assert math.isnan(jc.total_p_cluster) and ps.empty
