"""The one object per atlas: bounded caches, views computed once, and slides rendered once per view."""

from __future__ import annotations

import threading

from dashboard.caching import BoundedCache
from dashboard.service import CACHE_SIZES, AtlasService
from dashboard.slides import render
from dashboard.state import ViewState


def test_bounded_cache_keeps_at_most_its_bound_and_drops_the_least_recent() -> None:
    cache: BoundedCache[int] = BoundedCache(2)
    cache.get_or_make("a", lambda: 1)
    cache.get_or_make("b", lambda: 2)
    cache.get_or_make("a", lambda: 99)  # a hit: a is now the most recent
    cache.get_or_make("c", lambda: 3)  # drops b
    assert len(cache) == 2 and cache.get_or_make("b", lambda: 20) == 20 and cache.hits == 1


def test_every_cache_of_the_service_is_bounded(atlas) -> None:  # noqa: ANN001
    service = AtlasService(atlas)
    for name, bound in CACHE_SIZES.items():
        cache = service.cache(name)
        for i in range(bound + 5):
            cache.get_or_make(i, lambda: 0)
        assert len(cache) == bound, name
    assert render.slide_cache(service).max_entries > 0 and render.slide_cache(service).max_bytes > 0


def test_two_services_do_not_share_caches(atlas) -> None:  # noqa: ANN001
    a, b = AtlasService(atlas), AtlasService(atlas)
    a.view(ViewState(year=2015))
    assert len(a.cache("view")) == 1 and len(b.cache("view")) == 0


def test_a_request_arriving_while_the_first_render_is_stored_is_not_rendered_again() -> None:
    """The in-flight gate stays until the slide is in the cache: a second thread that arrives while the first is
    storing it waits on the gate and then reads the cache (before, it found no gate and no slide, and rendered)."""
    cache = render.SlideCache()
    renders: list[int] = []

    def make() -> bytes:
        renders.append(1)
        return b"slide"

    store, second = cache.put, {}

    def put_as_another_request_arrives(key: tuple, data: bytes) -> None:
        if "thread" not in second:
            t = threading.Thread(target=lambda: second.setdefault("data", cache.get_or_make(key, make)))
            second["thread"] = t
            t.start()
            t.join(timeout=0.5)  # it renders here if no gate stops it, or waits on the gate
        store(key, data)

    cache.put = put_as_another_request_arrives  # type: ignore[method-assign]
    assert cache.get_or_make(("view",), make) == b"slide"
    second["thread"].join(10)
    assert second["data"] == b"slide" and len(renders) == 1, f"rendered {len(renders)} times"
    assert cache.stats.hits == 1 and cache.stats.renders == 1


def parse_without_gc(source: str):  # noqa: ANN201
    """``ast.parse`` with the garbage collector paused. CPython 3.11.7 raises "SystemError: AST constructor
    recursion depth mismatch" when a finalizer runs inside the parse (seen in a full run, where an earlier test's
    abandoned Kaleido tasks were collected mid-parse); a CPython bug (gh-106905), fixed in later releases."""
    import ast
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source)
    finally:
        if enabled:
            gc.enable()


def test_no_module_keeps_a_cache_of_its_own() -> None:
    """Caches belong to the AtlasService of the atlas they derive from: no module-level dict, list or set that is
    filled later, and no functools cache, in dashboard/ or geodata/."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    mutable = {"dict", "list", "set", "OrderedDict", "defaultdict"}
    found = []
    for path in sorted([*root.glob("dashboard/**/*.py"), *root.glob("geodata/**/*.py")]):
        tree = parse_without_gc(path.read_text(encoding="utf-8"))
        for node in tree.body:
            value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
            empty = isinstance(value, ast.Dict | ast.List | ast.Set) and not (
                getattr(value, "keys", None) or getattr(value, "elts", None))
            made = isinstance(value, ast.Call) and getattr(value.func, "id", getattr(value.func, "attr", "")) in mutable
            if empty or made:
                found.append(f"{path.relative_to(root)}:{node.lineno}")
        for node in ast.walk(tree):
            for dec in getattr(node, "decorator_list", []):
                name = getattr(dec, "id", None) or getattr(getattr(dec, "func", dec), "attr", None) or getattr(
                    getattr(dec, "func", None), "id", None)
                if name in ("lru_cache", "cache"):
                    found.append(f"{path.relative_to(root)}:{node.lineno} @{name}")
    assert not found, f"module-level caches: {found}"


def test_every_benchmark_imports_against_the_current_code() -> None:
    """``make bench`` is not part of ``make test``; an API change must not break it unnoticed."""
    import runpy
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parent.parent / "bench").glob("bench_*.py")):
        runpy.run_path(str(path), run_name="bench_import_check")  # top level only: main() is not run


def test_bytes_lru_is_bounded_by_bytes_and_entries() -> None:
    from dashboard.caching import BytesLRU

    store = BytesLRU(max_bytes=10, max_entries=2)
    store.put("a", b"1234")
    store.put("b", b"5678")
    store.get("a")  # a is now the most recent
    store.put("c", b"90")  # a third entry: b, the least recent, goes
    assert store.get("b") is None and store.get("a") == b"1234" and len(store) == 2 and store.size == 6
    store.put("big", b"x" * 11)  # larger than the whole bound: not kept, nothing else lost
    assert store.get("big") is None and len(store) == 2
    store.put("d", b"123456789")  # 9 bytes: everything older goes to stay within 10
    assert len(store) == 1 and store.size == 9


# --- memory bounded by bytes: one budget (CACHE_MB) for all the service's caches ----------------------------------

def test_the_cache_budget_comes_from_cache_mb() -> None:
    from dashboard.service import DEFAULT_CACHE_MB, cache_budget

    assert cache_budget({"CACHE_MB": "12"}) == 12 * 2**20
    assert cache_budget({"CACHE_MB": "0.5"}) == 1 * 2**20  # clamped: a cache of nothing would thrash
    assert cache_budget({}) == cache_budget({"CACHE_MB": "lots"}) == cache_budget({"CACHE_MB": "nan"}) \
        == int(DEFAULT_CACHE_MB * 2**20)


def test_estimate_bytes_counts_each_object_once_and_not_what_the_value_does_not_own() -> None:
    import sys

    from dashboard.caching import estimate_bytes

    class Owner:  # stands for the service a cached view refers to
        pass

    owner = Owner()
    owner.payload = b"x" * 10_000
    shared = "a string both lists hold" * 3
    a, b = 1.5, 2.5
    inner = [a, b, shared]
    value = {"k": inner, "again": inner, "owner": owner}
    expected = (sys.getsizeof(value) + sys.getsizeof("k") + sys.getsizeof("again") + sys.getsizeof("owner")
                + sys.getsizeof(inner) + sys.getsizeof(a) + sys.getsizeof(b) + sys.getsizeof(shared)
                + sys.getsizeof(owner))
    assert estimate_bytes(value, shallow=(Owner,)) == expected


def test_frame_bytes_is_pandas_deep_memory_usage_for_every_kind_of_column(atlas) -> None:  # noqa: ANN001
    """The cheap count of a frame's bytes (its arrays read directly) is pandas' own deep count, to the byte, for
    numbers, booleans, objects, pandas strings, categoricals (pandas' count) and missing values, and the atlas."""
    import numpy as np
    import pandas as pd

    from dashboard.caching import frame_bytes

    frame = pd.DataFrame({"n": [1, 2, 3], "x": [0.5, np.nan, 2.0], "b": [True, False, True],
                          "o": ["a", "longer text", None], "s": pd.array(["x", None, "zz"], dtype="string"),
                          "c": pd.Categorical(["p", "q", "p"])}, index=pd.Index(["r1", "r2", "r3"], name="code"))
    for value in (frame, frame.drop(columns="c"), frame["o"], frame["s"], frame["n"], frame.index, atlas.table,
                  atlas.table.iloc[:0]):
        want = value.memory_usage(deep=True)
        assert frame_bytes(value) == int(np.sum(want)), type(value)


def test_one_byte_budget_drops_the_least_recent_entry_of_any_cache() -> None:
    from dashboard.caching import ByteBudget

    budget = ByteBudget(100, size=len)
    views, layouts = BoundedCache(10, budget), BoundedCache(10, budget)
    views.get_or_make("old", lambda: b"v" * 40)
    layouts.get_or_make("page", lambda: b"p" * 40)
    views.get_or_make("old", lambda: b"never made")  # used again: now the page is the least recent
    views.get_or_make("new", lambda: b"n" * 40)  # 120 bytes: the least recent entry, of either cache, goes
    assert (len(views), len(layouts), budget.used) == (2, 0, 80)
    assert layouts.get_or_make("too big", lambda: b"x" * 101) == b"x" * 101  # handed back, not kept
    assert (len(layouts), budget.used) == (0, 80)
    views.clear()
    assert budget.used == 0


def test_distinct_views_keep_the_caches_within_their_byte_budget(atlas_dir, monkeypatch) -> None:  # noqa: ANN001
    """Layouts of distinct views (about 270 kB each) and their views, through the app: the estimated total of
    all the caches never passes CACHE_MB, entries are dropped to stay within it, and each layout is charged at
    least its body."""
    import app as app_module
    from dashboard.caching import estimate_bytes

    monkeypatch.setenv("CACHE_MB", "2")
    dash_app = app_module.create_app(atlas_dir=atlas_dir)
    service = dash_app.server.extensions["atlas_service"]
    client = dash_app.server.test_client()
    assert service.budget.max_bytes == 2 * 2**20
    views = [f"year={y}&imd={lo}-{hi}" for y in (2015, 2016) for lo in (1, 2, 3) for hi in (3, 4, 5)]
    peak = 0
    for query in views:
        assert client.get(f"/_dash-layout?{query}").status_code == 200
        total = sum(cache.bytes for cache in service.caches.values())
        assert total == service.budget.used
        peak = max(peak, total)
    layouts = service.cache("layout")
    assert peak <= service.budget.max_bytes
    assert service.budget.evicted > 0 and len(layouts) < len(views) == 18
    body = len(client.get("/_dash-layout?year=2015&imd=1-3").get_data())
    assert estimate_bytes(next(iter(layouts._items.values()))[0]) >= body * 0.9
