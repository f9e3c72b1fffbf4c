"""URL state: what a shared link reproduces, and what a bad link is told."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.state import (
    ViewState,
    Vocabulary,
    describe,
    from_store,
    map_event_codes,
    map_parts,
    next_state,
    normalise,
    parse_imd,
    parse_query,
    slide_filename,
    to_query,
    to_store,
    toggle,
)


@pytest.fixture(scope="module")
def vocab(atlas) -> Vocabulary:  # noqa: ANN001
    return Vocabulary.from_table(atlas.table)


def test_contract_example_round_trips(vocab: Vocabulary) -> None:
    state = parse_query("?year=2016&area_team=Greater%20Manchester&imd=1-2", vocab)
    assert state == ViewState(year=2016, area_teams=("Greater Manchester",), imd=(1, 2))
    assert not state.notices
    assert parse_query(to_query(state), vocab) == state


def test_area_team_by_code_and_any_case(vocab: Vocabulary) -> None:
    code = vocab.area_teams.index("Greater Manchester")
    e39 = [c for c, n in vocab.team_by_code.items() if n == "Greater Manchester"][0]
    assert code >= 0
    s = parse_query(f"?area_team={e39}&area_team=thames%20valley%20area%20team&region=north&region=south", vocab)
    assert s.area_teams == ("Greater Manchester", "Thames Valley")
    assert s.regions == ("North", "South")


def test_team_outside_the_chosen_region_is_dropped_with_a_notice(vocab: Vocabulary) -> None:
    """Region London AND team Greater Manchester would match no CCG: the team goes, and the notice says why."""
    s = parse_query("?region=London&area_team=Greater%20Manchester&area_team=London", vocab)
    assert s.regions == ("London",) and s.area_teams == ("London",)
    assert any("Greater Manchester" in n and "North region" in n for n in map(str, s.notices)), s.notices


def test_all_teams_is_no_team_filter(vocab: Vocabulary) -> None:
    s = normalise(vocab, area_teams=list(vocab.area_teams))
    assert s.area_teams == () and not s.notices
    assert to_query(s) == "?year=2016"


def test_region_headings_from_the_list_are_not_teams(vocab: Vocabulary) -> None:
    """A keyboard or "Select All" can pick a heading; it is dropped silently, never shown as a bad link."""
    s = next_state(vocab, "area-team.value", "", 2016, "level", [], ["__region__London", "Wessex"], [1, 5], [])
    assert s.area_teams == ("Wessex",) and not s.notices


def test_bad_values_are_ignored_with_a_notice(vocab: Vocabulary) -> None:
    s = parse_query("?year=2099&area_team=Atlantis&imd=0-9&ccg=E38999999&view=3d&foo=bar", vocab)
    assert s == ViewState()
    text = " ".join(map(str, s.notices))
    for word in ("2099", "Atlantis", "0-9", "E38999999", "3d", "foo"):
        assert word in text


def test_script_in_a_value_is_only_echoed_as_text(vocab: Vocabulary) -> None:
    s = parse_query("?area_team=%3Cscript%3Ealert(1)%3C/script%3E", vocab)
    assert s.area_teams == ()
    assert any("<script>" in n for n in map(str, s.notices))  # rendered by React as text, never as HTML


def test_imd_ranges() -> None:
    assert parse_imd("1-3") == (1, 3)
    assert parse_imd("3-1") == (1, 3)
    assert parse_imd("2") == (2, 2)
    assert parse_imd("0-3") is None and parse_imd("a-b") is None and parse_imd("1-2-3") is None
    assert parse_imd("\u00b9") is None and parse_imd("\u0662") is None  # superscript one, Arabic-Indic two


def test_non_string_search_is_the_default_view(vocab: Vocabulary) -> None:
    assert parse_query({"year": 2015}, vocab) == ViewState()
    assert parse_query(["x"], vocab) == ViewState()


def test_filter_mask_counts_real_ccgs(atlas, vocab: Vocabulary) -> None:  # noqa: ANN001
    from dashboard.service import filter_mask

    t = atlas.table
    gm = normalise(vocab, area_teams=["Greater Manchester"])
    assert filter_mask(t, gm).sum() == 12
    london_q1 = normalise(vocab, regions=["London"], imd=[1, 1])
    assert filter_mask(t, london_q1).sum() == ((t["region"] == "London") & (t["imd_quintile"] == 1)).sum()
    assert filter_mask(t, ViewState()).all()


def test_selection_from_map_events(vocab: Vocabulary) -> None:
    click = {"points": [{"curveNumber": 0, "location": "E38000024"}]}
    assert map_event_codes(click) == ["E38000024"]
    assert map_event_codes({"points": [{"curveNumber": 1, "location": "x"}]}) == []
    assert map_event_codes("junk") == [] and map_event_codes({"points": "junk"}) == []
    assert toggle(("A",), "B") == ("A", "B") and toggle(("A", "B"), "A") == ("B",)


def test_titles_and_file_names(vocab: Vocabulary) -> None:
    s = normalise(vocab, 2016, ["Greater Manchester"])
    assert slide_filename(s) == "ccg-cocommissioning-2016-greater-manchester.png"
    assert describe(s) == "Greater Manchester"
    assert describe(ViewState()) == "England"
    assert slide_filename(normalise(vocab, 2015, imd=[1, 2]), "svg") == "ccg-cocommissioning-2015-imd-1-2.svg"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=300))
def test_any_query_string_gives_a_valid_state(vocab: Vocabulary, query: str) -> None:
    s = parse_query(query, vocab)
    assert s.year in (2015, 2016) and 1 <= s.imd[0] <= s.imd[1] <= 5
    assert set(s.area_teams) <= set(vocab.area_teams) and set(s.ccgs) <= vocab.ccgs


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.one_of(st.none(), st.integers(), st.text(), st.lists(st.text()), st.floats(), st.booleans(),
                 st.dictionaries(st.text(), st.integers())))
def test_any_control_value_gives_a_valid_state(vocab: Vocabulary, junk: object) -> None:
    s = normalise(vocab, junk, junk, junk, junk, junk, junk)
    assert s.year in (2015, 2016) and s.view in ("level", "change")


def test_events_change_the_view_as_a_user_expects(vocab: Vocabulary) -> None:
    def event(trigger: str, **kw: object) -> ViewState:
        args = {"search": "?year=2015&region=London", "year": 2016, "view": "level", "regions": [],
                "area_teams": ["Wessex"], "imd": [1, 5], "ccgs": ["E38000024"], "click": None, "selected": None}
        args.update(kw)
        return next_state(vocab, trigger, **args)  # type: ignore[arg-type]

    assert event("") == ViewState(year=2015, regions=("London",))  # page load: the URL wins
    assert event("url.search") == ViewState(year=2015, regions=("London",))  # back / forward
    assert event("year.value").area_teams == ("Wessex",)  # a control: the controls win
    assert event("reset.n_clicks") == ViewState()
    click = {"points": [{"curveNumber": 0, "location": "E38000206"}]}
    assert event("map-click.data", click=click).ccgs == ("E38000024", "E38000206")
    again = {"points": [{"curveNumber": 0, "location": "E38000024"}]}
    assert event("map-click.data", click=again).ccgs == ()  # clicking a selected CCG unselects it
    box = {"points": [{"curveNumber": 0, "location": c} for c in ("E38000001", "E38000002")]}
    assert event("map-select.data", selected=box).ccgs == ("E38000001", "E38000002")
    assert event("map-select.data", selected={"points": []}).ccgs == ("E38000024",)


def test_store_round_trip_and_forged_store(vocab: Vocabulary) -> None:
    s = normalise(vocab, 2015, ["Wessex"], ["South"], [2, 3], ["E38000024"], "change")
    assert from_store(to_store(s), vocab) == s
    assert from_store("junk", vocab) == ViewState()
    assert from_store({"year": 2099, "imd": "x"}, vocab) == ViewState()


def test_map_parts_resend_only_what_changed() -> None:
    base = map_parts(ViewState(), False)
    year = map_parts(ViewState(year=2015), False)
    team = map_parts(ViewState(area_teams=("Wessex",)), False)
    pick = map_parts(ViewState(ccgs=("E38000024",)), False)
    assert year["colour"] != base["colour"] and year["filter"] != base["filter"]
    assert team["colour"] == base["colour"] and team["filter"] != base["filter"]
    assert pick["colour"] == base["colour"] and pick["filter"] == base["filter"]
    assert pick["selection"] != base["selection"]
    assert map_parts(ViewState(), True)["clusters"] != base["clusters"]


def test_cluster_marks_are_part_of_the_link(vocab: Vocabulary) -> None:
    """``clusters=1`` marks clustered CCGs on the map and the slide; the link carries it, a bad value is dropped."""
    on = parse_query("?year=2015&clusters=1", vocab)
    assert on.clusters and not on.notices and to_query(on) == "?year=2015&clusters=1"
    assert parse_query(to_query(on), vocab) == on
    assert not parse_query("?year=2015", vocab).clusters and "clusters" not in to_query(parse_query("", vocab))
    bad = parse_query("?clusters=maybe", vocab)
    assert not bad.clusters and [n.field for n in bad.notices] == ["clusters"]
    assert from_store(to_store(on), vocab) == on
    ticked = next_state(vocab, "show-clusters.value", "", 2016, "level", [], [], [1, 5], [], clusters=["on"])
    assert ticked.clusters and not next_state(vocab, "show-clusters.value", "", 2016, "level", [], [], [1, 5], [],
                                              clusters=[]).clusters
