"""Write the robustness store (:mod:`dashboard.robust.store`): every single-filter view's robust result, worked
out once per atlas build in forked processes, kept beside the atlas. ``make atlas`` runs it::

    python -m dashboard.robust.precompute [--atlas DIR] [--ensure] [--jobs N]   # --ensure: only when not current
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pickle
import sys
import time
from collections.abc import Iterable
from multiprocessing.connection import Connection
from pathlib import Path

from dashboard.cli_args import beside_atlas
from dashboard.robust.over_completions import EXTENDED, EXTENSION_SEED
from dashboard.robust.per_view import draws_for, robust_for, sampler_for
from dashboard.robust.store import (
    COMPLETIONS,
    INDEX,
    SEED,
    STORE_DIR,
    current,
    file_name,
    method_fingerprint,
    single_filter_views,
    view_key,
)
from dashboard.service import AtlasService
from dashboard.state import ViewState


def _one(service: AtlasService, folder: Path, state: ViewState) -> tuple[str, str, float]:
    """Work out one view and write it (atomically); its key, file name and CPU seconds."""
    t0 = time.process_time()
    result = robust_for(service, state, COMPLETIONS, SEED)
    key = view_key(state)
    path = folder / STORE_DIR / file_name(key)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    tmp.write_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(path)
    return key, path.name, time.process_time() - t0


def _chunk(service: AtlasService, folder: Path, states: list[ViewState], out: Connection) -> None:
    """A forked worker's share of the views (it inherits the service, samplers and draws: nothing is pickled)."""
    out.send([_one(service, folder, s) for s in states])
    out.close()


def write_store(service: AtlasService, views: Iterable[ViewState] | None = None, jobs: int = 2) -> Path:
    """Work out ``views`` (default :func:`single_filter_views`) in ``jobs`` forked processes and write them beside
    the atlas, the index last (atomically: a reader sees the old store or the new one)."""
    folder = Path(service.atlas.folder)
    (folder / STORE_DIR).mkdir(exist_ok=True)
    states = list(views if views is not None else single_filter_views(service))
    for evidence in sorted({s.evidence for s in states}):  # made once, before the fork, shared by the workers
        sampler_for(service, evidence)
        draws_for(service, evidence, COMPLETIONS, SEED)
        draws_for(service, evidence, EXTENDED, EXTENSION_SEED)
    jobs = max(1, min(jobs, len(states)))
    if jobs == 1:
        done = [_one(service, folder, s) for s in states]
    else:
        ctx = multiprocessing.get_context("fork")
        workers = []
        for i in range(jobs):
            receive, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_chunk, args=(service, folder, states[i::jobs], send))
            proc.start()
            send.close()
            workers.append((proc, receive))
        done = []
        for proc, receive in workers:
            try:
                done += receive.recv()
            except EOFError as exc:
                raise RuntimeError(f"a store worker failed (exit {proc.exitcode})") from exc
            finally:
                proc.join()
    index = {"build_id": str(service.atlas.build_id), "method": method_fingerprint(), "completions": COMPLETIONS,
             "seed": SEED, "views": {key: name for key, name, _ in done},
             "cpu_s": round(sum(s for _, _, s in done), 1)}
    path = folder / STORE_DIR / INDEX
    tmp = path.with_name(INDEX + ".part")
    tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
    tmp.replace(path)
    keep = set(index["views"].values())
    for old in (folder / STORE_DIR).glob("*.pickle"):  # results of an earlier build or code
        if old.name not in keep:
            old.unlink(missing_ok=True)
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m dashboard.robust.precompute``: write the store; 0 done, 1 no atlas."""
    p = argparse.ArgumentParser(prog="python -m dashboard.robust.precompute", description="Work out the robustness "
                                "results of every single-filter view once and keep them beside the atlas.")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes (default 2)")
    args, atlas = beside_atlas(p, argv, "only when missing, of another build or of other code")
    if atlas is None:
        return 1
    folder = Path(atlas.folder)
    if args.ensure and current(folder, str(atlas.build_id)):
        print(f"{folder / STORE_DIR} is current")
        return 0
    t0 = time.perf_counter()
    path = write_store(AtlasService(atlas), jobs=max(1, args.jobs))
    views = len(json.loads(path.read_text())["views"])
    print(f"wrote {views} views' robustness results to {path.parent} in {time.perf_counter() - t0:.0f} s")
    return 0


__all__ = ["main", "write_store"]

if __name__ == "__main__":
    sys.exit(main())
