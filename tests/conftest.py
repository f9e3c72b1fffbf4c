"""Shared fixtures: the real raw sources, one atlas built per session, and a writable copy of the sources.

The atlas is built once (about 5 s) into a temporary folder, never into ``build/atlas``, so tests neither
depend on nor disturb the developer's atlas. Use ``atlas`` for the loaded :class:`geodata.atlas.Atlas` and
``atlas_dir`` for its folder (e.g. to point ``CCG_ATLAS_DIR`` or ``--atlas`` at it).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Imported now, not first by the hypothesis plugin's end-of-run summary: there, pytest's assertion rewriting parses
# hypothesis's modules while finalizers of the tests' threads and sockets run, which CPython 3.11.7 can break
# ("SystemError: AST constructor recursion depth mismatch", seen running tests/test_server.py alone).
import hypothesis  # noqa: F401
import pandas as pd
import pytest

# `pytest` run as a script (not `python -m pytest`) does not put the project root on sys.path.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from deploy.launch import Server, ServerFailed, Stack, serve, serve_stack  # noqa: E402
from geodata import build, sources  # noqa: E402
from geodata.atlas import Atlas, read_atlas  # noqa: E402

# The one server launcher (deploy/launch.py), named here for the tests that start servers.
__all__ = ["Server", "ServerFailed", "Stack", "serve", "serve_stack"]


@pytest.fixture(scope="session")
def sources_root() -> Path:
    """The real raw-data folder ($CCG_SOURCES or ../shared/data/raw); its absence is a failure, not a skip."""
    root = sources.sources_dir()
    assert root.is_dir(), f"raw sources not found at {root}: set CCG_SOURCES"
    return root


_SESSION_ATLAS: dict[str, Path] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Build the session atlas before collection and point ``CCG_ATLAS_DIR`` at it.

    Modules that need an app at import time (the fuzz test's strategies are made from the app's callbacks) then
    read this atlas, never ``build/atlas``; so does every server a test starts.
    """
    root = sources.sources_dir()
    if not root.is_dir():
        return  # the sources_root fixture reports it as a failure
    tmp = Path(tempfile.mkdtemp(prefix="ccg-test-atlas-"))
    _SESSION_ATLAS["tmp"] = tmp
    _SESSION_ATLAS["atlas"] = build.build(root=root, out=tmp / "atlas").path
    os.environ["CCG_ATLAS_DIR"] = str(_SESSION_ATLAS["atlas"])


def pytest_unconfigure(config: pytest.Config) -> None:
    if "tmp" in _SESSION_ATLAS:
        shutil.rmtree(_SESSION_ATLAS.pop("tmp"), ignore_errors=True)


def session_atlas_dir() -> Path:
    """The session atlas's folder, for modules that need it at import time."""
    return _SESSION_ATLAS["atlas"]


@pytest.fixture(scope="session")
def atlas_dir(sources_root: Path) -> Path:
    """A complete atlas built from the real sources into a session temporary folder."""
    return session_atlas_dir()


@pytest.fixture(scope="session")
def atlas(atlas_dir: Path) -> Atlas:
    return read_atlas(atlas_dir)


@pytest.fixture(scope="session")
def service(atlas: Atlas):  # noqa: ANN201
    """The one object per atlas that owns derived data and caches, for the session atlas."""
    from dashboard.service import AtlasService

    return AtlasService(atlas)


@pytest.fixture(scope="session")
def dash_app(atlas_dir: Path):  # noqa: ANN201
    """The production app (no debug) for the session atlas: tests never read ``build/atlas``."""
    import app as app_module

    return app_module.create_app(debug=False, atlas_dir=atlas_dir)


def app_service(dash_app):  # noqa: ANN001, ANN201
    """The AtlasService an app was built with."""
    return dash_app.server.extensions["atlas_service"]


def copy_writable(src: Path, dest: Path) -> Path:
    """Copy a tree and make it writable (the shared raw files and folders are read-only)."""
    shutil.copytree(src, dest)
    for dirpath, _dirs, files in os.walk(dest):
        os.chmod(dirpath, os.stat(dirpath).st_mode | stat.S_IWUSR)
        for name in files:
            p = os.path.join(dirpath, name)
            os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR)
    return dest


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, to check a folder is byte-identical later."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def raw_copy(tmp_path_factory: pytest.TempPathFactory, sources_root: Path) -> Path:
    """A writable copy of the raw sources (about 17 MB), once per module; tests must restore what they break."""
    return copy_writable(sources_root, tmp_path_factory.mktemp("raw") / "raw")


@pytest.fixture(scope="module")
def existing_atlas(tmp_path_factory: pytest.TempPathFactory, atlas_dir: Path) -> Path:
    """A copy of the session atlas standing for 'the previous atlas' that a failed build must leave alone."""
    return copy_writable(atlas_dir, tmp_path_factory.mktemp("previous") / "atlas")


@pytest.fixture
def fast_geometry(monkeypatch: pytest.MonkeyPatch, atlas: Atlas) -> None:
    """Skip the geometry stage of ``build.build`` (most of its 5 s) by reusing the session atlas's layers.

    For tests about the table and the levels only; the geometry has its own tests on the session build.
    """
    def reuse(root: Path, table: pd.DataFrame) -> tuple[dict, dict, list[str]]:
        table["lon"] = table["ccg_code"].map(atlas.table["lon"])
        table["lat"] = table["ccg_code"].map(atlas.table["lat"])
        layers = {"ccgs": atlas.ccgs_geojson, "area_teams": atlas.area_teams_geojson,
                  "regions": atlas.regions_geojson}
        return layers, atlas.neighbours, []

    monkeypatch.setattr(build, "build_geometry", reuse)


@pytest.fixture(scope="module")
def export_app(atlas_dir: Path):  # noqa: ANN201
    """An app of its own for a test module, so its slide cache and renderer start empty whatever ran before."""
    import app as app_module

    return app_module.create_app(atlas_dir=atlas_dir)


@pytest.fixture(scope="session")
def live_server(atlas_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The production server (gunicorn.conf.py, preloaded, one worker) for the session atlas, for browser tests."""
    with serve(atlas_dir, tmp_path_factory.mktemp("live-server"), WORKERS="1") as server:
        os.environ["ATLAS_LIVE_SERVER_LOG"] = str(server.log)
        yield server.url
