"""The code's shape, as the README's "How it is built" promises it: imports flow one way (no cycle, counting the
imports made inside functions, so none exists only to dodge a cycle), and serving the page needs no geopandas."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dashboard", "geodata")


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its body (module level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # `import dashboard.robust.words` names the module; attributes climb up
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a cycle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_constructed_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_dashboard_or_geodata() -> None:
    known = modules()
    graph = {name: imports(name, path, known) & set(known) for name, path in known.items()}
    # a package importing its own submodules (re-exports) is not a cycle of roles
    for name in graph:
        graph[name] = {t for t in graph[name] if not (known[name].name == "__init__.py" and t.startswith(name + "."))}
    assert cycles(graph) == []


def test_geodata_never_imports_dashboard() -> None:
    known = modules()
    for name, path in known.items():
        if name.startswith("geodata"):
            assert not [t for t in imports(name, path, known) if t.startswith("dashboard")], name


def test_serving_the_page_imports_no_geopandas(atlas_dir: Path) -> None:
    """The app, its page, its layout and a callback, in a fresh interpreter: geopandas (and pyogrio) stay out."""
    code = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import app
server = app.create_app(atlas_dir={str(atlas_dir)!r}).server
client = server.test_client()
assert client.get("/").status_code == 200
assert client.get("/_dash-layout?year=2015&area_team=Greater%20Manchester").status_code == 200
assert client.get("/healthz").status_code == 200
heavy = sorted(m for m in ("geopandas", "pyogrio", "pyproj", "fiona") if m in sys.modules)
print(",".join(heavy))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1:] in ([], [""]), f"serving imported {out.stdout.strip()}"
