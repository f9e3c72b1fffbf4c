"""Data a public host can trust: a damaged atlas is refused naming the file, a truncated input cannot shrink the
atlas, the atlas swap is one atomic step with a fallback, a failed import changes nothing, and no CSV cell can
run as a spreadsheet formula."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import copy_writable, snapshot

from geodata import build, sources, store
from geodata.__main__ import main
from geodata.atlas import AtlasDamaged, read_atlas


@pytest.fixture
def atlas_copy(tmp_path: Path, atlas_dir: Path) -> Path:
    """A writable copy of the session atlas, in the link layout a build makes."""
    folder = copy_writable(atlas_dir.resolve(), tmp_path / "atlas.copy.20260101T000000")
    os.symlink(folder.name, tmp_path / "atlas")
    return tmp_path / "atlas"


def _cut_half(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _duplicate_row(p: Path) -> None:
    lines = p.read_bytes().splitlines(keepends=True)
    p.write_bytes(b"".join(lines + [lines[1]]))


def _edit_level(p: Path) -> None:
    t = pd.read_csv(p, dtype=str, keep_default_na=False)
    t.loc[0, "level_2016"] = "delegated" if t.loc[0, "level_2016"] != "delegated" else "joint"
    t.to_csv(p, index=False)


def _negative_population(p: Path) -> None:
    t = pd.read_csv(p, dtype=str, keep_default_na=False)
    t.loc[0, "population"] = "-5"
    t.to_csv(p, index=False)


DAMAGE: dict[str, tuple[str, Callable[[Path], None]]] = {
    "table cut in half": ("table.csv", _cut_half),
    "a duplicated row": ("table.csv", _duplicate_row),
    "an edited level": ("table.csv", _edit_level),
    "a negative population": ("table.csv", _negative_population),
    "reconciliation truncated": ("reconciliation.csv", _cut_half),
    "geometry truncated": ("ccgs.geojson", _cut_half),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_atlas_is_refused_naming_the_file(case: str, atlas_copy: Path) -> None:
    name, damage = DAMAGE[case]
    damage(atlas_copy / name)
    with pytest.raises(AtlasDamaged) as err:
        read_atlas(atlas_copy)
    assert name in str(err.value) and "rebuild" in str(err.value)


def test_the_app_refuses_to_start_on_a_damaged_atlas(atlas_copy: Path) -> None:
    import app as app_module

    _cut_half(atlas_copy / "table.csv")
    with pytest.raises(AtlasDamaged, match="table.csv"):
        app_module.create_app(atlas_dir=atlas_copy)


def test_healthz_reports_what_was_loaded(atlas_dir: Path) -> None:
    import app as app_module

    a = app_module.create_app(atlas_dir=atlas_dir)
    body = a.server.test_client().get("/healthz").get_json()
    loaded = read_atlas(atlas_dir)
    assert body["ccgs"] == 209 == len(loaded.table)
    assert body["atlas_build"] == loaded.build_id and body["fallback"] is None
    assert body["known_levels"]["2016"] == int((loaded.table["level_2016"] != "unknown").sum())
    assert body["files"]["table.csv"]["rows"] == 209
    assert "/" not in body["folder"], "no server path in a public answer"


def test_a_missing_link_falls_back_to_the_newest_complete_atlas_and_says_so(atlas_copy: Path) -> None:
    """A build killed after writing its folder but before switching the link (or a lost link) still serves."""
    target = atlas_copy.resolve()
    atlas_copy.unlink()
    loaded = read_atlas(atlas_copy)
    assert loaded.folder == str(target)
    assert "missing" in loaded.fallback and target.name in loaded.fallback


def test_the_swap_is_one_step_and_an_interrupted_build_keeps_the_old_atlas(
        atlas_copy: Path, sources_root: Path, monkeypatch: pytest.MonkeyPatch, fast_geometry: None) -> None:
    before = snapshot(atlas_copy)
    old_target = atlas_copy.resolve()

    def killed(*_args: object) -> None:
        raise KeyboardInterrupt("killed between writing the new folder and switching the link")

    monkeypatch.setattr(store, "switch", killed)
    with pytest.raises(KeyboardInterrupt):
        build.build(root=sources_root, out=atlas_copy)
    assert atlas_copy.resolve() == old_target and snapshot(atlas_copy) == before
    assert read_atlas(atlas_copy).fallback == ""
    monkeypatch.undo()
    build.build(root=sources_root, out=atlas_copy)
    assert atlas_copy.is_symlink() and atlas_copy.resolve() != old_target
    kept = {p.name for p in atlas_copy.parent.iterdir() if p.is_dir() and not p.is_symlink()}
    assert old_target.name in kept, "the previous atlas is kept for a fallback"
    assert len(kept) <= 3 and not list(atlas_copy.parent.glob(".atlas-*"))


def test_a_truncated_levels_file_cannot_shrink_the_atlas(raw_copy: Path, existing_atlas: Path,
                                                          fast_geometry: None) -> None:
    """Cut at a row boundary the file is valid CSV; the build stops because known levels would fall."""
    before = snapshot(existing_atlas)
    known_before = 209 - read_atlas(existing_atlas).manifest["coverage"]["2016"]["unknown"]
    p = raw_copy / sources.LEVELS
    original = p.read_bytes()
    lines = original.splitlines(keepends=True)
    try:
        p.write_bytes(b"".join(lines[: int(len(lines) * 0.6)]))
        with pytest.raises(build.BuildError) as err:
            build.build(root=raw_copy, out=existing_atlas)
        assert "known levels would fall from" in str(err.value) and "--allow-fewer-levels" in str(err.value)
        assert snapshot(existing_atlas) == before
        res = build.build(root=raw_copy, out=existing_atlas, allow_fewer_levels=True)
        assert 209 - res.manifest["coverage"]["2016"]["unknown"] < known_before
    finally:
        p.write_bytes(original)


def _list(path: Path, names: list[tuple[str, str]]) -> Path:
    pd.DataFrame(names, columns=["CCG name", "Level"]).to_csv(path, index=False)
    return path


@pytest.fixture
def project_levels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    stand_in = tmp_path / "project_levels.csv"
    shutil.copyfile(build.PROJECT_LEVELS, stand_in)
    monkeypatch.setattr(build, "PROJECT_LEVELS", stand_in)
    return stand_in


def test_a_failed_import_leaves_levels_csv_byte_identical(project_levels: Path, sources_root: Path,
                                                          existing_atlas: Path, atlas, tmp_path: Path,  # noqa: ANN001
                                                          capsys: pytest.CaptureFixture, fast_geometry: None) -> None:
    """70 made-up delegated CCGs break the published 2015/16 total: the build fails, and nothing is written."""
    free = atlas.table[(atlas.table["level_2015"] == "unknown") & (atlas.table["level_2016"] == "unknown")]
    names = [(n, "delegated") for n in free["ccg_name"][:70]]
    before, atlas_before = project_levels.read_bytes(), snapshot(existing_atlas)
    rc = main(["--sources", str(sources_root), "--atlas", str(existing_atlas), "import-levels",
               str(_list(tmp_path / "big.csv", names)), "--year", "2015"])
    assert rc == 2 and "previous atlas kept" in capsys.readouterr().err
    assert project_levels.read_bytes() == before, "levels.csv changed although the build failed"
    assert snapshot(existing_atlas) == atlas_before
    assert not list(project_levels.parent.glob(".project_levels.csv.import-*"))


def test_an_import_that_matches_nothing_changes_nothing(project_levels: Path, sources_root: Path,
                                                        existing_atlas: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    before, atlas_before = project_levels.read_bytes(), snapshot(existing_atlas)
    rc = main(["--sources", str(sources_root), "--atlas", str(existing_atlas), "import-levels",
               str(_list(tmp_path / "none.csv", [("Atlantis Health Board", "joint")])), "--year", "2016"])
    assert rc == 3 and "unchanged" in capsys.readouterr().out
    assert project_levels.read_bytes() == before and snapshot(existing_atlas) == atlas_before


def test_supersede_lets_an_official_list_replace_a_contradicting_row(project_levels: Path, sources_root: Path,
                                                                     existing_atlas: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture,
                                                                     fast_geometry: None) -> None:
    """Halton is delegated in 2016/17 per the project's row; an official list saying joint replaces it."""
    listing = _list(tmp_path / "official.csv", [("NHS Halton CCG", "joint")])
    args = ["--sources", str(sources_root), "--atlas", str(existing_atlas), "import-levels", str(listing),
            "--year", "2016", "--claim", "operating", "--source-title", "Official list"]
    assert main(args) == 3 and "CONFLICT" in capsys.readouterr().out  # refused without the flag
    assert main([*args, "--supersede"]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "SUPERSEDED" in out and "01F" in out
    rows = sources.read_levels_file(project_levels)
    halton = rows[(rows["ods_code"] == "01F") & (rows["source_title"] == "Official list")]
    assert halton[["level", "claim", "supersedes"]].values.tolist() == [["joint", "operating", "yes"]]
    t = read_atlas(existing_atlas).table.set_index("ods_code")
    assert t.at["01F", "level_2016"] == "joint" and t.at["01F", "claim_2016"] == "operating"
    assert "superseded: delegated per" in t.at["01F", "source_2016"]


def test_csv_cells_cannot_run_as_formulas(atlas_dir: Path, tmp_path: Path, project_levels: Path,
                                          sources_root: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "atlas.csv"
    assert main(["--atlas", str(atlas_dir), "export-csv", str(out)]) == 0
    with out.open(newline="", encoding="utf-8") as f:
        cells = [c for row in csv.reader(f) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "@")], "a cell a spreadsheet would run"
    listing = _list(tmp_path / "=HYPERLINK(x).csv", [("NHS Bury CCG", "joint")])
    main(["--sources", str(sources_root), "import-levels", str(listing), "--year", "2015", "--no-build",
          "--source-title", "=HYPERLINK(\"http://evil.example\")"])
    rows = sources.read_levels_file(project_levels)
    titles = rows.loc[rows["ods_code"] == "00V", "source_title"].tolist()
    assert titles and all(not t.startswith("=") for t in titles), titles


def _exited_pid() -> int:
    """The id of a process that has exited (and been reaped): what a killed build's pid looks like afterwards."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_next_build_removes_what_killed_builds_left_but_not_a_running_builds_folder(
        atlas_copy: Path, sources_root: Path, fast_geometry: None) -> None:
    parent = atlas_copy.parent
    running = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        dead = _exited_pid()
        left = {"killed": parent / f".atlas-{dead}-k1ll3d", "running": parent / f".atlas-{running.pid}-w0rk1ng",
                "old_unnamed": parent / ".atlas-x7f2ab9q", "fresh_unnamed": parent / ".atlas-q9a8b7c6"}
        for folder in left.values():
            folder.mkdir()
            (folder / "table.csv").write_text("ccg_code\n", encoding="utf-8")
        week_ago = time.time() - 7 * 24 * 3600
        os.utime(left["old_unnamed"], (week_ago, week_ago))
        os.symlink("atlas.copy.20260101T000000", parent / f".atlas.link-{dead}")

        build.build(root=sources_root, out=atlas_copy)

        assert not left["killed"].exists() and not left["old_unnamed"].exists()
        assert not (parent / f".atlas.link-{dead}").is_symlink()
        assert (left["running"] / "table.csv").exists(), "a build still running lost its folder"
        assert (left["fresh_unnamed"] / "table.csv").exists()
        assert {p.name for p in parent.glob(".atlas-*")} == {left["running"].name, left["fresh_unnamed"].name}
        assert read_atlas(atlas_copy).fallback == ""
    finally:
        running.communicate(b"")


# --- an atlas edited with files.json updated to match: the checksums pass, the meaning must not ------------------

def _edit_table(change: Callable[[pd.DataFrame], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        t = pd.read_csv(folder / "table.csv", dtype=str, keep_default_na=False)
        change(t)
        t.to_csv(folder / "table.csv", index=False)
    return edit


def _edit_json(name: str, change: Callable[[object], object]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
        (folder / name).write_text(json.dumps(change(data)), encoding="utf-8")
    return edit


def _first(t: pd.DataFrame, year: int, level: str) -> int:
    return int(t.index[t[f"level_{year}"] == level][0])


def _set(t: pd.DataFrame, level: str, year: int, **cols: str) -> None:
    i = _first(t, year, level)
    for col, value in cols.items():
        t.loc[i, col.format(y=year)] = value


def _without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


def _one_sided(nb: dict) -> dict:
    code = next(c for c, near in nb.items() if near)
    nb[code] = nb[code][1:]
    return nb


def _alone(nb: dict) -> dict:
    code = next(c for c, near in nb.items() if near)
    for other in nb[code]:
        nb[other].remove(code)
    nb[code] = []
    return nb


def _joint_everywhere(t: pd.DataFrame) -> None:
    """Every 2016 delegated CCG made joint, with its stricter-evidence columns and claims kept consistent: only
    the level rows (no source says joint for them) and the manifest's coverage can tell."""
    for i in t.index[t["level_2016"] == "delegated"]:
        for col in ("level_2016", "level_2016_approved", "level_2016_operating"):
            if t.at[i, col] == "delegated":
                t.at[i, col] = "joint"


def _level_rows_claim(folder: Path) -> None:
    rows = pd.read_csv(folder / "level_rows.csv", dtype=str, keep_default_na=False)
    rows.loc[0, "claim"] = "hearsay"
    rows.to_csv(folder / "level_rows.csv", index=False)


CONSISTENT_DAMAGE: dict[str, tuple[str, str, Callable[[Path], None]]] = {
    "manifest without coverage": ("manifest.json", "coverage", _edit_json("manifest.json",
                                                                          lambda m: _without(m, "coverage"))),
    "manifest without build_id": ("manifest.json", "build_id", _edit_json("manifest.json",
                                                                          lambda m: _without(m, "build_id"))),
    "manifest not an object": ("manifest.json", "not a JSON object", _edit_json("manifest.json", lambda m: [m])),
    "a level outside the vocabulary": ("table.csv", "level 3", _edit_table(
        lambda t: _set(t, "delegated", 2016, level_2016="level 3"))),
    "an approved level outside the vocabulary": ("table.csv", "level_2015_approved", _edit_table(
        lambda t: _set(t, "delegated", 2015, level_2015_approved="fully"))),
    "a claim outside the vocabulary": ("table.csv", "hearsay", _edit_table(
        lambda t: _set(t, "delegated", 2016, claim_2016="hearsay"))),
    "a known level without a source": ("table.csv", "without their source", _edit_table(
        lambda t: _set(t, "joint", 2015, source_2015=""))),
    "a claim without a level": ("table.csv", "without their source", _edit_table(
        lambda t: _set(t, "unknown", 2016, claim_2016="approved"))),
    "an approved level the level does not have": ("table.csv", "stricter evidence", _edit_table(
        lambda t: _set(t, "delegated", 2016, level_2016_approved="joint"))),
    "a level no source gives": ("table.csv", "level_rows.csv", _edit_table(_joint_everywhere)),
    "a missing column": ("table.csv", "missing columns", _edit_table(lambda t: t.pop("claim_2016"))),
    "a quintile of 7": ("table.csv", "imd_quintile", _edit_table(lambda t: _set(t, "joint", 2016, imd_quintile="7"))),
    "coverage that does not count the table": ("table.csv", "coverage", _edit_json(
        "manifest.json", lambda m: {**m, "coverage": {**m["coverage"], "2015": {**m["coverage"]["2015"],
                                                                              "unknown": 1}}})),
    "a level row outside the vocabulary": ("level_rows.csv", "hearsay", _level_rows_claim),
    "neighbours one way only": ("neighbours.json", "not the other way round", _edit_json("neighbours.json",
                                                                                         _one_sided)),
    "a CCG without neighbours": ("neighbours.json", "islands", _edit_json("neighbours.json", _alone)),
    "a neighbour that is no CCG": ("neighbours.json", "known CCGs", _edit_json(
        "neighbours.json", lambda nb: {**nb, next(iter(nb)): [*nb[next(iter(nb))], "E38999999"]})),
}


@pytest.mark.parametrize("case", list(CONSISTENT_DAMAGE))
def test_an_edit_with_matching_checksums_is_refused_naming_the_file(case: str, atlas_copy: Path) -> None:
    name, words, damage = CONSISTENT_DAMAGE[case]
    folder = atlas_copy.resolve()
    damage(folder)
    store.write_files_manifest(folder)  # the checksums now agree with the edit
    store.verify(folder)
    with pytest.raises(AtlasDamaged) as err:
        read_atlas(atlas_copy)
    message = str(err.value)
    assert err.value.file.endswith(name) and words in message, message
    assert "\n" not in message and "rebuild" in message


def test_a_manifest_missing_keys_stops_the_cli_and_app_with_one_line(atlas_copy: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    import app as app_module

    folder = atlas_copy.resolve()
    _edit_json("manifest.json", lambda m: _without(m, "coverage"))(folder)
    store.write_files_manifest(folder)
    assert main(["--atlas", str(atlas_copy), "report"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "manifest.json" in err and "coverage" in err, err
    assert "KeyError" not in err and "Traceback" not in err
    with pytest.raises(AtlasDamaged, match="manifest.json"):
        app_module.create_app(atlas_dir=atlas_copy)
    assert build.needs_build(out=atlas_copy), "an atlas the app refuses must be rebuilt by 'ensure'"


def test_the_build_writes_every_key_a_load_requires(atlas: Any) -> None:
    assert set(atlas.manifest) == set(store.MANIFEST_KEYS)
    assert sorted(c for c, near in atlas.neighbours.items() if not near) == atlas.manifest["islands"]
