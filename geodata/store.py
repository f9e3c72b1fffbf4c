"""Where built atlases live on disk, how one replaces another atomically, and how a load proves it is whole.

Layout: ``build/atlas`` is a symbolic link to a complete folder ``build/atlas.<build id>.<time>``. A build writes
a new folder, then switches the link with one ``rename`` (atomic on POSIX), so a reader sees the old atlas or the
new one and never a gap; the previous folder is kept for a fallback. Every file's SHA-256 and row count are in
``files.json`` (written last), so a load refuses a truncated, edited or duplicated file, naming it.

A load of the default link that finds the link missing (a build killed between writing its folder and switching)
falls back to the newest complete folder beside it and says so; a damaged atlas is never served.

A build writes into ``.atlas-<pid>-<random>`` beside the link (:func:`build_folder`); a build that was killed
leaves it behind, and the next build removes every such folder whose process is gone (:func:`remove_stale_builds`),
never one of a build still running, and likewise the half-made links of killed switches.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: The project folder (this file is geodata/store.py) and the default atlas link in it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ATLAS_DIR = PROJECT_ROOT / "build" / "atlas"
#: Coordinate precision of the atlas's web geometry (about 1 m): the build rounds to it, the page's topology
#: (dashboard/figures/map_geometry.py) relies on it.
GRID_DEG = 1e-5
#: The atlas table's columns, in order: what a build writes and what loading requires.
TABLE_COLUMNS = [
    "ccg_code", "ods_code", "ccg_name", "area_team", "area_team_code", "area_team_ods", "region",
    "local_office", "local_office_code", "local_office_2016", "imd_score", "imd_rank", "imd_quintile",
    "population", "level_2015", "level_2016", "source_2015", "source_2016", "evidence_2015", "evidence_2016",
    "claim_2015", "claim_2016", "level_2015_approved", "level_2016_approved", "level_2015_operating",
    "level_2016_operating", "ccg13_codes", "lon", "lat",
]


def atlas_dir(path: str | Path | None = None) -> Path:
    """The atlas link (or folder): the argument, else ``$CCG_ATLAS_DIR``, else ``build/atlas``.

    Made absolute but not resolved: it is usually a link that each build switches (``geodata.store``).
    """
    p = Path(path or os.environ.get("CCG_ATLAS_DIR") or DEFAULT_ATLAS_DIR).expanduser()
    return p.parent.resolve() / p.name


FILES_MANIFEST = "files.json"
BUILD_PREFIX = ".atlas-"
#: A build's temporary folder this old is stale whatever its name says (a build takes a minute; this also covers
#: folders from before the pid was in the name, and a pid reused by another process).
STALE_SECONDS = 6 * 3600
_BUILD_PID = re.compile(r"^\.atlas-(\d+)-[^/]+$")
_LINK_PID = re.compile(r"^\..+\.link-(\d+)$")


class AtlasMissing(FileNotFoundError):
    """No built atlas where one was expected: run ``python -m geodata build``."""


class AtlasDamaged(ValueError):
    """An atlas file does not match what the build wrote; the message names the file and what differs."""

    def __init__(self, file: str | Path, problem: str) -> None:
        self.file, self.problem = str(file), problem
        super().__init__(f"{file}: {problem}; rebuild with 'python -m geodata build'")


#: What ``manifest.json`` must hold, with the type of each value (``geodata.build`` writes every one).
MANIFEST_KEYS: dict[str, type | tuple[type, ...]] = {
    "build_id": str, "built_at": str, "sources_dir": str, "inputs": dict, "ccgs": int, "area_teams": int,
    "coverage": dict, "level_files": list, "attributions": list, "geometry": dict, "islands": list,
}


def read_manifest(folder: Path) -> dict:
    """``manifest.json`` of ``folder``, refused (:class:`AtlasDamaged`, naming it) when it is not a JSON object
    with every key of :data:`MANIFEST_KEYS` holding a value of its type (an atlas from an older build, an edit)."""
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AtlasDamaged(path, f"not readable JSON ({type(exc).__name__})") from exc
    if not isinstance(manifest, dict):
        raise AtlasDamaged(path, "not a JSON object")
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise AtlasDamaged(path, f"missing keys {missing} (written by an older build, or edited)")
    wrong = [k for k, kind in MANIFEST_KEYS.items() if not isinstance(manifest[k], kind)
             or (kind is int and isinstance(manifest[k], bool))]
    if wrong:
        raise AtlasDamaged(path, f"keys {wrong} hold values of the wrong type")
    if not manifest["build_id"].strip():
        raise AtlasDamaged(path, "empty build_id")
    return manifest


def rows_of(path: Path) -> int:
    """Data rows of a CSV (lines less the header), features of a GeoJSON, entries of another JSON file."""
    if path.suffix == ".csv":
        with path.open("rb") as f:
            return max(0, sum(1 for line in f if line.strip()) - 1)
    data = json.loads(path.read_text(encoding="utf-8"))
    return len(data["features"]) if isinstance(data, dict) and "features" in data else len(data)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_files_manifest(folder: Path) -> dict[str, dict[str, object]]:
    """Record every file's SHA-256, size and row count in ``files.json``; the last file a build writes."""
    files = {p.name: {"sha256": sha256(p), "bytes": p.stat().st_size, "rows": rows_of(p)}
             for p in sorted(folder.iterdir()) if p.is_file() and p.name != FILES_MANIFEST}
    (folder / FILES_MANIFEST).write_text(json.dumps(files, indent=2), encoding="utf-8")
    return files


def verify(folder: Path) -> dict[str, dict[str, object]]:
    """Check every file against ``files.json``; raise :class:`AtlasDamaged` naming the first that differs."""
    listing = folder / FILES_MANIFEST
    if not listing.exists():
        raise AtlasDamaged(listing, "missing: the atlas was not completely written (or predates checksums)")
    try:
        files = json.loads(listing.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise AtlasDamaged(listing, f"not valid JSON ({exc})") from exc
    for name, want in files.items():
        path = folder / name
        if not path.exists():
            raise AtlasDamaged(path, "missing")
        if path.stat().st_size != want["bytes"] or sha256(path) != want["sha256"]:
            try:
                rows = rows_of(path)
            except ValueError:
                rows = "unreadable"
            raise AtlasDamaged(path, f"changed since the build (now {path.stat().st_size} bytes and {rows} rows; "
                                     f"built with {want['bytes']} bytes and {want['rows']} rows)")
    return files


@dataclass(frozen=True)
class Located:
    """The atlas folder to read, and why it is not the requested one (empty when it is)."""

    folder: Path
    fallback: str = ""


def locate(path: Path) -> Located:
    """The folder behind ``path``; if the link is missing, the newest complete folder beside it, saying so."""
    if (path / "manifest.json").exists():
        return Located(path)
    for candidate in complete_versions(path):
        return Located(candidate, f"{path} is missing; serving the newest complete atlas beside it, {candidate.name}")
    raise AtlasMissing(f"no atlas in {path}: run 'python -m geodata build' (or 'make run')")


def complete_versions(path: Path) -> list[Path]:
    """Versioned folders ``<name>.<build>.<time>`` beside ``path`` that hold a complete atlas, newest first."""
    if not path.parent.is_dir():
        return []
    found = [p for p in path.parent.glob(f"{path.name}.*") if p.is_dir() and not p.is_symlink()
             and (p / FILES_MANIFEST).exists() and (p / "manifest.json").exists()]
    return sorted(found, key=lambda p: p.name.rsplit(".", 1)[-1], reverse=True)


def version_folder(out: Path, build_id: str) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    return out.parent / f"{out.name}.{build_id}.{stamp}"


def switch(out: Path, target: Path) -> None:
    """Point ``out`` at ``target`` with one atomic rename of a fresh link; keep the previous folder, prune older."""
    previous = out.resolve() if out.is_symlink() else None
    if out.exists() and not out.is_symlink():  # an atlas folder from before links: moved aside once
        os.replace(out, out.parent / f"{out.name}.legacy.{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}")
    link = out.parent / f".{out.name}.link-{os.getpid()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(target.name, link)
    os.replace(link, out)  # the one step readers can observe
    keep = {target.resolve(), previous}
    for old in out.parent.glob(f"{out.name}.*"):
        if old.is_dir() and not old.is_symlink() and old.resolve() not in keep:
            shutil.rmtree(old, ignore_errors=True)


def build_folder(parent: Path) -> Path:
    """A new private folder for a build to write into, named with this process's id (``.atlas-<pid>-<random>``)."""
    return Path(tempfile.mkdtemp(prefix=f"{BUILD_PREFIX}{os.getpid()}-", dir=parent))


def _alive(pid: int) -> bool:
    """True when process ``pid`` exists (maybe as another user's): its build may still be writing."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    return True


def remove_stale_builds(parent: Path, now: float | None = None) -> list[Path]:
    """Remove what killed builds left in ``parent``: ``.atlas-<pid>-*`` folders whose process is gone, any
    ``.atlas-*`` folder untouched for :data:`STALE_SECONDS`, and ``.<name>.link-<pid>`` links of switches whose
    process is gone. A running build's folder (its process alive, its files fresh) is left alone. Returns what was
    removed."""
    if not parent.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for path in parent.iterdir():
        name = path.name
        if name.startswith(BUILD_PREFIX) and path.is_dir() and not path.is_symlink():
            m = _BUILD_PID.match(name)
            try:
                stale = now - path.stat().st_mtime > STALE_SECONDS or (m is not None and not _alive(int(m.group(1))))
            except OSError:
                continue
            if stale:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        elif (m := _LINK_PID.match(name)) and path.is_symlink() and not _alive(int(m.group(1))):
            try:
                path.unlink()
            except OSError:
                continue
            removed.append(path)
    return removed
