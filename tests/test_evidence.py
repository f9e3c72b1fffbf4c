"""Evidence grades: every known level carries the claim of its source, and the ``evidence`` choice treats levels on
weaker claims as unknown in every view (on the real atlas and on constructed rows)."""

from __future__ import annotations

import pandas as pd

from dashboard import figures, summaries
from dashboard.page import table
from dashboard.state import ViewState, parse_query, to_query
from geodata import levels, vocabulary


def test_every_known_level_names_its_claim(atlas) -> None:  # noqa: ANN001
    t = atlas.table
    for year in vocabulary.YEARS:
        known = t[f"level_{year}"] != vocabulary.UNKNOWN
        assert (t.loc[known, f"claim_{year}"].isin(vocabulary.CLAIMS)).all()
        assert (t.loc[~known, f"claim_{year}"] == "").all()
        ruled = t[f"source_{year}"].str.startswith("rule:")
        assert (t.loc[ruled, f"claim_{year}"] == "rule").all()
    assert (t["claim_2016"] == "rule").sum() == t["source_2016"].str.startswith("rule:").sum() > 0


def test_stricter_evidence_keeps_only_levels_on_its_claims(atlas) -> None:  # noqa: ANN001
    t = atlas.table
    for year in vocabulary.YEARS:
        for choice in ("approved", "operating"):
            strict = t[f"level_{year}_{choice}"]
            kept = strict != vocabulary.UNKNOWN
            # a level kept by a stricter choice is the same level as under 'any' (or 'not delegated' standing
            # for a lower level whose own row rests on a weaker claim)
            same = strict[kept] == t.loc[kept, f"level_{year}"]
            lower = (strict[kept] == "not_delegated") & t.loc[kept, f"level_{year}"].isin(levels.LOWER_LEVELS)
            assert (same | lower).all()
        assert (t[f"level_{year}_operating"] != "unknown").sum() <= (t[f"level_{year}_approved"] != "unknown").sum()
        assert (t[f"level_{year}_approved"] != "unknown").sum() < (t[f"level_{year}"] != "unknown").sum()


def test_a_stated_not_delegated_survives_when_the_lower_level_is_only_implied() -> None:
    rows = pd.DataFrame([
        {"ods_code": "A", "year": 2015, "level": "joint", "claim": "implied", "source_title": "x", "source_url": "",
         "source_date": "", "evidence": "explicit", "file": "f", "row": 2},
        {"ods_code": "A", "year": 2015, "level": "not_delegated", "claim": "operating", "source_title": "y",
         "source_url": "", "source_date": "", "evidence": "explicit", "file": "f", "row": 3},
    ])
    merged = levels.merge_levels(rows)
    assert merged.iloc[0]["level"] == "joint" and merged.iloc[0]["claim"] == "implied"
    strict = levels.levels_by_evidence(rows, ["A"]).set_index("ods_code")
    assert strict.at["A", "level_2015_operating"] == "not_delegated"
    assert strict.at["A", "level_2016_operating"] == "unknown"


def test_evidence_choice_changes_counts_map_and_table(service) -> None:  # noqa: ANN001
    t = service.table
    anyv, strict = service.view(ViewState(year=2016)), service.view(ViewState(year=2016, evidence="operating"))
    want = int((t["level_2016_operating"] == "unknown").sum())
    assert strict.unknown == want > anyv.unknown
    counts = summaries.level_counts(strict).set_index("level")
    no_source = int((t["level_2016"] == "unknown").sum())
    assert counts.at["unknown", "ccgs"] == no_source, "set-aside levels are not called 'no source found'"
    assert counts.at["set_aside", "ccgs"] == want - no_source > 0
    assert "set_aside" not in summaries.level_counts(anyv).set_index("level").index
    z = figures.map_arrays(strict).z
    assert z.count(figures.LEVEL_ORDER.index("unknown")) == want
    rows = table.shown_rows(strict)
    assert sum(r["level_2016"] == "unknown" for r in rows) == want
    assert all(r["claim_2016"] == "" for r in rows if r["level_2016"] == "unknown")


def test_evidence_is_a_url_parameter(service) -> None:  # noqa: ANN001
    vocab = service.vocabulary
    state = parse_query("?year=2015&evidence=approved", vocab)
    assert state.evidence == "approved" and not state.notices
    assert to_query(state) == "?year=2015&evidence=approved"
    assert parse_query(to_query(state), vocab) == state
    bad = parse_query("?evidence=hearsay", vocab)
    assert bad.evidence == "any" and any("hearsay" in n for n in map(str, bad.notices))


def test_details_say_what_the_evidence_amounts_to(service) -> None:  # noqa: ANN001
    t = service.table
    ruled = t[t["claim_2016"] == "rule"].index[0]
    words = summaries.details(service, ruled)["years"][1][3]
    assert words == "inferred: CCGs delegated in 2015/16 stayed delegated"
    approved = t[t["claim_2015"] == "approved"].index[0]
    assert summaries.details(service, approved)["years"][0][3] == "approved by NHS England for 2015/16"


def test_the_map_marks_levels_that_rest_on_inferred_claims(service) -> None:  # noqa: ANN001
    t = service.table
    fig = figures.map_figure(service.view(ViewState(year=2016)))
    dots = fig.data[figures.T_INFERRED]
    weak = t[t["claim_2016"].isin(["implied", "area", "rule"])]
    assert len(dots.lon) == len(weak) > 0 and "inferred" in dots.name
    assert sorted(zip(dots.lon, dots.lat)) == sorted(zip(weak["lon"], weak["lat"]))
    london = figures.map_figure(service.view(ViewState(year=2016, regions=("London",))))
    in_london = weak[weak["region"] == "London"]
    assert len(london.data[figures.T_INFERRED].lon) == len(in_london), "only CCGs in the filter are marked"
    strict = figures.map_figure(service.view(ViewState(year=2016, evidence="approved")))
    # a stricter choice keeps no inferred level; its dots mark the levels it sets aside, named so in the legend
    dots = strict.data[figures.T_INFERRED]
    aside = t[(t["level_2016"] != "unknown") & (t["level_2016_approved"] == "unknown")]
    assert sorted(zip(dots.lon, dots.lat)) == sorted(zip(aside["lon"], aside["lat"])) and len(aside) > 0
    assert "set aside" in dots.name.replace("<br>", " ") and dots.name.endswith(f": {len(aside)}")
