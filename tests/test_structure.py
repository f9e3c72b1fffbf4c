"""The code's shape, as the README's "How it is built" promises it: imports flow one way (no cycle, counting the
imports made inside functions, so none exists only to dodge a cycle), serving the page needs no geopandas, and no
module or function is too long to read in one sitting (600 and 80 lines)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dashboard", "geodata")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


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


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int, int]]:
    """``(name, first line, lines)`` of every function (methods and nested ones too) longer than ``limit`` lines,
    counted from its ``def`` line to its last line, docstring and comments included: what a reader has to hold."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                out.append((node.name, node.lineno, length))
    return sorted(out, key=lambda x: x[1])


def shape_offenders() -> list[str]:
    """Every module of dashboard/ and geodata/ over 600 lines and every function over 80, one line each."""
    out = []
    for path in sorted(modules().values()):
        source = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT)
        n = len(source.splitlines())
        if n > MAX_MODULE_LINES:
            out.append(f"{rel}: {n} lines (module limit {MAX_MODULE_LINES})")
        out += [f"{rel}:{line} {name}: {length} lines (function limit {MAX_FUNCTION_LINES})"
                for name, line, length in long_functions(source)]
    return out


def test_long_functions_are_measured_from_def_to_last_line() -> None:
    def body(n: int, indent: str) -> str:
        return "".join(f"{indent}x{i} = {i}\n" for i in range(n))

    # short: its def line and 79 more = 80, at the limit; C.long: 81, over it (a method is a function too)
    source = f"def short():\n{body(79, '    ')}\n\nclass C:\n    def long(self):\n{body(80, '        ')}"
    assert long_functions(source) == [("long", 84, 81)]
    nested = f"def outer():\n    def inner():\n{body(81, '        ')}    return inner\n"
    assert [(name, length) for name, _, length in long_functions(nested)] == [("outer", 84), ("inner", 82)]


def test_no_module_over_600_lines_and_no_function_over_80() -> None:
    offenders = shape_offenders()
    assert not offenders, "too long to read in one sitting:\n" + "\n".join(offenders)


def test_statistics_import_no_page_slide_or_hosting_code() -> None:
    """The statistics return numbers and reasons; the words that show them live beside what shows them."""
    known = modules()
    for name, path in known.items():
        if name.startswith(("dashboard.analysis", "dashboard.robust")):
            shown_by = ("dashboard.page", "dashboard.slides", "dashboard.hosting", "dashboard.figures")
            wrong = sorted(t for t in imports(name, path, known) if t.startswith(shown_by))
            assert not wrong, f"{name} imports {wrong}"


def test_component_ids_are_declared_in_one_module(atlas_dir: Path) -> None:
    """Every component id the page renders is a constant of dashboard/ids.py, and no page module writes an id or a
    callback's component as a string of its own (so a renamed id cannot leave a callback pointing nowhere)."""
    from dash.development.base_component import Component

    import app
    from dashboard import ids

    declared = {v for k, v in vars(ids).items() if k.isupper() and isinstance(v, str)}
    layout = app.create_app(atlas_dir=atlas_dir).layout
    root = layout() if callable(layout) else layout
    rendered = {c.id for c in root._traverse() if isinstance(c, Component) and isinstance(getattr(c, "id", None), str)}
    if isinstance(getattr(root, "id", None), str):
        rendered.add(root.id)
    undeclared = sorted(i for i in rendered if i not in declared and not any(i == ids.label_of(d) for d in declared))
    assert not undeclared, f"ids rendered but not declared in dashboard/ids.py: {undeclared}"
    assert len(rendered) > 40  # the whole page was walked
    literal = []
    for path in sorted((ROOT / "dashboard").rglob("*.py")):
        if path.name == "ids.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "id" and isinstance(node.value, ast.Constant) \
                    and isinstance(node.value.value, str):
                literal.append(f"{path.relative_to(ROOT)}:{node.lineno} id={node.value.value!r}")
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("Input", "Output", "State") \
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                literal.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.id}({node.args[0].value!r})")
    assert not literal, "component ids written as strings outside dashboard/ids.py: " + "; ".join(literal)
