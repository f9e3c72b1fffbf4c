"""The robustness results of the single-filter views, worked out once per atlas build and kept beside the atlas.

A view's robustness check costs 0.05 to 2 s of CPU (most of it the permutation p-values near 0.05); the results
depend only on the atlas, the view's filters and the method. So ``make atlas`` works out, once, the views a reader
reaches with one filter (each year and evidence choice: England, each region, each area team, each deprivation
range: 264 views, about 100 s of CPU, 50 s on two cores) and keeps them in ``<atlas>/robust/``; the page, the
slides and the stats then read a stored view (1-5 ms) instead of working it out (:func:`stored_result`, used by
:func:`dashboard.robust.per_view.robust_for`). Any other view is worked out as before, on request.

A stored result is the one :func:`~dashboard.robust.per_view.robust_for` returns for the view with the default
completions, seed and prior (tests/test_robust_store.py checks they are the same). It is used only when the store
was written for this atlas build and by this code (:func:`method_fingerprint`: a hash of the sources the results
depend on); otherwise it is ignored and ``--ensure`` writes it again. The files are the build's own output, as
trusted as the atlas beside them (pickles: read only from that folder).

Reading only; :mod:`dashboard.robust.precompute` writes the store::

    python -m dashboard.robust.precompute [--atlas DIR] [--ensure] [--jobs N]
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

from dashboard.completions import UNIFORM_HISTORIES
from dashboard.robust.results import RobustResult
from dashboard.service import AtlasService
from dashboard.state import EVIDENCE, YEARS, ViewState, filters_only, to_store

#: The store's folder inside the atlas folder, and its index (written last: a store without one is not used).
STORE_DIR = "robust"
INDEX = "index.json"
#: The settings a stored result was worked out with (robust_for's defaults).
COMPLETIONS, SEED = 200, 1
#: The sources a result depends on, hashed into :func:`method_fingerprint` (folders: every ``.py`` in them).
METHOD_SOURCES = ("dashboard/robust", "dashboard/analysis", "dashboard/completions.py",
                  "dashboard/clustering_summary.py", "dashboard/numbers.py", "dashboard/state.py",
                  "dashboard/service.py", "geodata/totals.py", "geodata/bounds.py", "geodata/levels.py",
                  "geodata/vocabulary.py")
ROOT = Path(__file__).resolve().parents[2]


def method_fingerprint(root: Path = ROOT) -> str:
    """A hash of the code that makes a robust result: a store written by other code is not used."""
    h = hashlib.sha256()
    for name in METHOD_SOURCES:
        path = root / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def view_key(state: ViewState) -> str:
    """The store's name for a view: its filters as canonical JSON."""
    return json.dumps(to_store(filters_only(state)), sort_keys=True, separators=(",", ":"))


def file_name(key: str) -> str:
    """The file of a view's result in the store."""
    return hashlib.sha256(key.encode()).hexdigest()[:24] + ".pickle"


def single_filter_views(service: AtlasService) -> list[ViewState]:
    """Every view with at most one filter: each year and evidence choice, England, each region, each area team and
    each deprivation range (quintiles ``a``-``b``)."""
    vocab = service.vocabulary
    ranges = [(a, b) for a in range(1, 6) for b in range(a, 6) if (a, b) != (1, 5)]
    out = []
    for year in YEARS:
        for evidence in EVIDENCE:
            base = {"year": year, "evidence": evidence}
            out.append(ViewState(**base))
            out += [ViewState(**base, regions=(r,)) for r in vocab.regions]
            out += [ViewState(**base, area_teams=(t,)) for t in vocab.area_teams]
            out += [ViewState(**base, imd=imd) for imd in ranges]
    return out


class Store:
    """The stored results of one atlas folder, read through its index; nothing when it is missing, of another
    build or of other code. Owned by the service (``service.derived``), read-only."""

    def __init__(self, folder: Path, build_id: str, fingerprint: str) -> None:
        self.folder = folder / STORE_DIR
        self.views: dict[str, str] = {}
        try:
            index = json.loads((self.folder / INDEX).read_text())
        except (OSError, ValueError):
            return
        if index.get("build_id") == build_id and index.get("method") == fingerprint \
                and index.get("completions") == COMPLETIONS and index.get("seed") == SEED:
            self.views = dict(index.get("views", {}))

    def get(self, state: ViewState) -> RobustResult | None:
        """The stored result of a view, or None (not stored, or its file unreadable)."""
        name = self.views.get(view_key(state))
        if name is None:
            return None
        try:
            result = pickle.loads((self.folder / name).read_bytes())
        except Exception:  # noqa: BLE001 - a missing or damaged file: the view is worked out instead
            return None
        return result if isinstance(result, RobustResult) else None


def store_of(service: AtlasService) -> Store:
    """The service's store (read once)."""
    atlas = service.atlas
    return service.derived("robust.store", lambda: Store(Path(atlas.folder), str(atlas.build_id),
                                                         method_fingerprint()))


def stored_result(service: AtlasService, state: ViewState, completions: int, seed: int, prior: str
                  ) -> RobustResult | None:
    """A view's stored result when it was stored with these settings (the defaults), else None."""
    if (completions, seed, prior) != (COMPLETIONS, SEED, UNIFORM_HISTORIES) or not service.atlas.folder:
        return None
    return store_of(service).get(state)


def current(folder: Path, build_id: str) -> bool:
    """Whether ``folder`` holds a store written for this build by this code."""
    return bool(Store(folder, build_id, method_fingerprint()).views)


__all__ = ["COMPLETIONS", "INDEX", "SEED", "STORE_DIR", "Store", "current", "file_name", "method_fingerprint",
           "single_filter_views", "store_of", "stored_result", "view_key"]
