"""The robustness store (dashboard/robust/store.py, precompute.py): the single-filter views' results worked out once
per atlas build and read instead of worked out, only when written for this build by this code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_robust_cost import differences

from dashboard import robust
from dashboard.completions import TWO_STAGE, UNIFORM_HISTORIES
from dashboard.robust import per_view, store
from dashboard.robust.precompute import main as precompute_main
from dashboard.robust.precompute import write_store
from dashboard.service import AtlasService
from dashboard.state import EVIDENCE, ViewState
from geodata.atlas import read_atlas

VIEWS = [ViewState(year=2016, area_teams=("Essex",)), ViewState(year=2015, area_teams=("West Yorkshire",)),
         ViewState(year=2015, regions=("London",), evidence="operating")]


@pytest.fixture(scope="module")
def stored(atlas_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session atlas with a store of VIEWS, written by two forked workers."""
    folder = tmp_path_factory.mktemp("stored") / "atlas"
    shutil.copytree(atlas_dir, folder)
    write_store(AtlasService(read_atlas(folder)), VIEWS, jobs=2)
    return folder


def computing_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("worked out although stored")
    monkeypatch.setattr(per_view, "robust_statistics", refuse)


def test_a_stored_view_is_read_not_worked_out_and_is_the_result_to_the_bit(stored: Path, service: AtlasService,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    worked_out = [robust.robust_for(AtlasService(service.atlas), s) for s in VIEWS]
    computing_forbidden(monkeypatch)
    reader = AtlasService(read_atlas(stored))
    for state, want in zip(VIEWS, worked_out):
        got = robust.robust_for(reader, state)
        assert differences(got, want) == [], state
    # Selection and colouring do not matter: the same filters are the same stored view.
    selected = ViewState(year=2016, area_teams=("Essex",), ccgs=("E38000007",), view="change")
    assert differences(robust.robust_for(reader, selected), worked_out[0]) == []


def test_other_views_and_other_settings_are_worked_out(stored: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = AtlasService(read_atlas(stored))
    prior = UNIFORM_HISTORIES
    assert store.stored_result(reader, ViewState(year=2016, area_teams=("Wessex",)), 200, 1, prior) is None
    assert store.stored_result(reader, VIEWS[0], 200, 1, prior) is not None
    assert store.stored_result(reader, VIEWS[0], 200, 2, prior) is None  # another seed
    assert store.stored_result(reader, VIEWS[0], 100, 1, prior) is None  # other completions
    assert store.stored_result(reader, VIEWS[0], 200, 1, TWO_STAGE) is None  # the other prior
    calls = []
    real = per_view.robust_statistics
    monkeypatch.setattr(per_view, "robust_statistics", lambda *a, **k: calls.append(1) or real(*a, **k))
    robust.robust_for(reader, VIEWS[0], seed=2)
    assert calls == [1]


@pytest.mark.parametrize("field, value", [("build_id", "another-build"), ("method", "0" * 16), ("seed", 7)])
def test_a_store_of_another_build_or_code_is_not_used(stored: Path, tmp_path: Path, field: str,
                                                      value: object) -> None:
    folder = tmp_path / "atlas"
    shutil.copytree(stored, folder)
    index_path = folder / store.STORE_DIR / store.INDEX
    index = json.loads(index_path.read_text())
    index[field] = value
    index_path.write_text(json.dumps(index))
    reader = AtlasService(read_atlas(folder))
    assert store.stored_result(reader, VIEWS[0], 200, 1, UNIFORM_HISTORIES) is None
    assert not store.current(folder, reader.build_id)


def test_an_unreadable_stored_file_is_worked_out_instead(stored: Path, tmp_path: Path) -> None:
    folder = tmp_path / "atlas"
    shutil.copytree(stored, folder)
    name = json.loads((folder / store.STORE_DIR / store.INDEX).read_text())["views"][store.view_key(VIEWS[0])]
    (folder / store.STORE_DIR / name).write_bytes(b"not a pickle")
    reader = AtlasService(read_atlas(folder))
    assert store.stored_result(reader, VIEWS[0], 200, 1, UNIFORM_HISTORIES) is None
    assert robust.robust_for(reader, VIEWS[0]).statistics  # worked out


def test_the_fingerprint_changes_with_the_code(tmp_path: Path) -> None:
    root = tmp_path / "src"
    for name in store.METHOD_SOURCES:
        src = store.ROOT / name
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, root / name) if src.is_dir() else shutil.copy(src, root / name)
    before = store.method_fingerprint(root)
    assert before == store.method_fingerprint(store.ROOT)
    (root / "dashboard/robust/exact.py").write_text((root / "dashboard/robust/exact.py").read_text() + "\n# changed\n")
    assert store.method_fingerprint(root) != before


def test_single_filter_views_are_each_year_evidence_and_one_filter(service: AtlasService) -> None:
    views = store.single_filter_views(service)
    vocab = service.vocabulary
    per = 1 + len(vocab.regions) + len(vocab.area_teams) + 14  # England, regions, teams, the other 14 IMD ranges
    assert len(views) == len(set(views)) == 2 * len(EVIDENCE) * per
    assert all(sum([bool(v.regions), bool(v.area_teams), v.imd != (1, 5)]) <= 1 for v in views)


def test_ensure_writes_once_and_then_finds_it_current(stored: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "atlas"
    shutil.copytree(stored, folder)
    shutil.rmtree(folder / store.STORE_DIR)
    monkeypatch.setattr(store, "single_filter_views", lambda service: VIEWS[:1])
    monkeypatch.setattr("dashboard.robust.precompute.single_filter_views", lambda service: VIEWS[:1])
    assert precompute_main(["--atlas", str(folder), "--ensure", "--jobs", "1"]) == 0
    assert "wrote 1 views" in capsys.readouterr().out
    assert precompute_main(["--atlas", str(folder), "--ensure"]) == 0
    assert "is current" in capsys.readouterr().out
