"""The layout's rules, checked on the source: the core works without ROS (at import time and in every line of it),
its modules import each other without a cycle (lazy and ``TYPE_CHECKING`` imports count: a cycle broken only by
import order is one refactor away from an ImportError), its root holds only the public API, and no function grows
past 60 lines without a comment saying why."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "rgbt_seg_core"
ROS = REPO / "rgbt_seg_ros"
MAX_FUNCTION_LINES = 60
PUBLIC_API = {"build_model", "list_models", "load_checkpoint", "save_checkpoint", "InferenceEngine",
              "InferenceConfig", "__version__"}
ROS_PACKAGES = {"rgbt_seg_ros", "rclpy", "rcl_interfaces", "builtin_interfaces", "message_filters", "cv_bridge",
                "launch", "launch_ros"}
# calls that import the module named by their first argument (rgbt_seg_core.utils.optional.require among them)
IMPORTING_CALLS = {"import_module", "__import__", "require", "find_spec"}


# ---------------------------------------------------------------------------------------------------- the source


@dataclass(frozen=True)
class Imported:
    """One import in a module: the absolute name as written, the names taken from it (``from x import a, b``),
    the line."""

    module: str
    names: tuple[str, ...]
    line: int


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package at ``root`` (packages as their
    ``__init__``)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _resolve(module: str, path: Path, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = _package_of(module, path).split(".")
    if level > 1:
        base = base[: -(level - 1)]
    return ".".join([*base, name] if name else base)


def imports_of(module: str, path: Path) -> list[Imported]:
    """Every import anywhere in the file (function bodies, ``if TYPE_CHECKING:`` blocks included), relative ones
    resolved, plus the string-named imports of :data:`IMPORTING_CALLS`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Imported(alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node.level, node.module)
            found.append(Imported(target, tuple(alias.name for alias in node.names), node.lineno))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in IMPORTING_CALLS:
                found.append(Imported(node.args[0].value, (), node.lineno))
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports. ``import a.b.c`` and ``from a.b.c import x`` point at ``a.b.c``
    (not at its parent packages: Python runs those too, but a child importing its own parents is no cycle), ``from
    a.b import c`` at ``a.b.c`` when that is a module, else at ``a.b``."""
    files = module_files(root)
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for imp in imports_of(name, path):
            submodules = {f"{imp.module}.{n}" for n in imp.names} & files.keys()
            graph[name] |= submodules
            if (not imp.names or len(submodules) < len(imp.names)) and imp.module in files:
                graph[name].add(imp.module)
        graph[name].discard(name)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path ``a -> b -> ... -> a``) for each strongly connected component that has one
    (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    components.append(component)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest closed path through the component's first module (breadth-first, inside the component)."""
    start = min(component)
    parent: dict[str, str] = {}
    queue = [start]
    for node in queue:
        for child in sorted(graph[node] & component):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if child not in parent:
                parent[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")  # a component always has one


def is_ros(module: str) -> bool:
    top = module.split(".")[0]
    return top in ROS_PACKAGES or top.startswith("rosidl") or top.endswith(("_msgs", "_srvs"))


def long_functions(root: Path) -> list[str]:
    """``file:line name (N lines)`` for each function over :data:`MAX_FUNCTION_LINES` lines whose ``def`` (or
    first decorator) is not preceded by a ``# long: <reason>`` comment."""
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines), filename=str(path))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            length = node.end_lineno - node.lineno + 1
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            before = lines[first - 2].strip() if first >= 2 else ""
            if length > MAX_FUNCTION_LINES and not re.match(r"#\s*long:\s*\S", before):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({length} lines)")
    return found


# ---------------------------------------------------------------------------------------------------- the rules


def test_core_never_imports_rclpy() -> None:
    code = (
        "import pkgutil, importlib, sys, rgbt_seg_core\n"
        "for m in pkgutil.walk_packages(rgbt_seg_core.__path__, 'rgbt_seg_core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('rclpy', 'sensor_msgs', 'std_msgs')]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_no_import_cycle_in_the_core() -> None:
    graph = import_graph(CORE)
    assert len(graph) > 50 and graph["rgbt_seg_core.inference.engine"] >= {"rgbt_seg_core.deploy"}  # the graph is real
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in rgbt_seg_core:\n" + "\n".join(" -> ".join(c) for c in cycles)


# docs/architecture.md's layers: a subpackage imports only subpackages of a lower layer (utils at the bottom)
LAYERS = {"utils": 1, "models": 2, "deploy": 3, "settings": 4, "inference": 5, "data": 6, "evaluation": 7,
          "training": 8, "runtime": 8, "bags": 9, "fleet": 10, "benchmarks": 11, "cli": 12}


def layer_violations(graph: dict[str, set[str]], layers: dict[str, int]) -> list[str]:
    def sub(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else None

    bad = []
    for module, deps in sorted(graph.items()):
        a = sub(module)
        for dep in sorted(deps):
            b = sub(dep)
            if a is None or b is None or a == b:
                continue
            if a not in layers or b not in layers or layers[b] >= layers[a]:
                bad.append(f"{module} ({a}, layer {layers.get(a)}) imports {dep} ({b}, layer {layers.get(b)})")
    return bad


def test_subpackages_import_only_lower_layers() -> None:
    graph = import_graph(CORE)
    assert {m.split(".")[1] for m in graph if m.count(".") >= 1} == set(LAYERS)  # every subpackage has a layer
    bad = layer_violations(graph, LAYERS)
    assert not bad, "imports against docs/architecture.md's layers:\n" + "\n".join(bad)


def test_layer_check_can_fail() -> None:
    graph = {"pkg.low.a": {"pkg.high.b"}, "pkg.high.b": set(), "pkg.high.c": {"pkg.low.a"}}
    assert layer_violations(graph, {"low": 1, "high": 2}) == [
        "pkg.low.a (low, layer 1) imports pkg.high.b (high, layer 2)"]
    assert layer_violations({"pkg.x.a": {"pkg.y.b"}}, {"x": 2, "y": 2})  # one layer: neither imports the other


def test_no_ros_import_anywhere_in_the_core() -> None:
    bad = [f"{path.relative_to(REPO)}:{imp.line} imports {imp.module}"
           for name, path in module_files(CORE).items() for imp in imports_of(name, path) if is_ros(imp.module)]
    assert not bad, "the core imports ROS:\n" + "\n".join(bad)


def test_the_core_root_holds_only_subpackages() -> None:
    modules = sorted(p.name for p in CORE.iterdir() if p.is_file() and p.suffix in (".py", ".so", ".pyd"))
    assert modules == ["__init__.py"], f"modules at the root of rgbt_seg_core (move them into a subpackage): {modules}"
    packages = [p for p in CORE.iterdir() if p.is_dir() and p.name != "__pycache__" and any(p.rglob("*.py"))]
    assert packages and all((p / "__init__.py").is_file() for p in packages), packages


def test_the_root_exports_exactly_the_public_api() -> None:
    import rgbt_seg_core

    assert set(rgbt_seg_core.__all__) == PUBLIC_API and len(rgbt_seg_core.__all__) == len(PUBLIC_API)
    assert all(getattr(rgbt_seg_core, name, None) is not None for name in PUBLIC_API)
    namespace: dict = {}
    exec("from rgbt_seg_core import *", namespace)
    assert set(namespace) - {"__builtins__"} == PUBLIC_API


def test_no_function_over_60_lines_without_a_reason() -> None:
    found = long_functions(CORE) + long_functions(ROS)
    assert not found, (f"functions over {MAX_FUNCTION_LINES} lines (shorten them, or put `# long: <why>` on the "
                       "line before the def):\n" + "\n".join(found))


# ---------------------------------------------------------------------------------------- the checks can fail


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root / next(iter(files)).split("/")[0]


def test_cycle_finder_finds_a_lazy_relative_and_a_type_checking_cycle(tmp_path: Path) -> None:
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.sub import b\n",  # pkg.sub.b is a module: an edge to it, not to pkg.sub
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "def f():\n    from ..c import thing\n",  # lazy and relative
        "pkg/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\nthing = 1\n",
        "pkg/d.py": "import pkg.c\nfrom pkg import a\n",  # into the cycle, not part of it
        "pkg/e.py": "from . import e as me\n",  # a module importing itself is no edge
    })
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.c"} and graph["pkg.c"] == {"pkg.a"}
    assert graph["pkg.d"] == {"pkg.c", "pkg.a"} and graph["pkg.e"] == set() and graph["pkg"] == set()
    assert find_cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]


def test_cycle_finder_reports_each_cycle_and_passes_a_tree(tmp_path: Path) -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert find_cycles({"x": {"y"}, "y": {"x"}, "p": {"q"}, "q": {"p", "x"}}) in (
        [["x", "y", "x"], ["p", "q", "p"]], [["p", "q", "p"], ["x", "y", "x"]])
    pkg = _write(tmp_path, {"pkg/__init__.py": "from pkg.m import v\n", "pkg/m.py": "from pkg import n\nv = 1\n",
                            "pkg/n.py": "import pkg\n"})  # n -> pkg (its __init__) -> m -> n
    assert find_cycles(import_graph(pkg)) == [["pkg", "pkg.m", "pkg.n", "pkg"]]


def test_ros_names_and_string_imports_are_caught(tmp_path: Path) -> None:
    pkg = _write(tmp_path, {"pkg/__init__.py": "", "pkg/x.py": (
        "def f():\n    import rclpy.node\n    from sensor_msgs.msg import Image\n"
        "    importlib.import_module('rosidl_runtime_py')\n    require('cv_bridge', 'ros')\n"
        "from example_interfaces_srvs import X\nimport launch_ros.actions\nimport launcher\n")})
    modules = [imp.module for imp in imports_of("pkg.x", pkg / "x.py")]
    assert sorted(m for m in modules if is_ros(m)) == ["cv_bridge", "example_interfaces_srvs", "launch_ros.actions",
                                                      "rclpy.node", "rosidl_runtime_py", "sensor_msgs.msg"]
    assert not is_ros("launcher") and not is_ros("numpy") and not is_ros("rgbt_seg_core.runtime.frames")


@pytest.mark.parametrize("before, flagged", [("", True), ("# long: one table of cases, read top to bottom", False),
                                             ("# long:", True), ("# a comment that gives no reason", True)])
def test_long_function_check(tmp_path: Path, before: str, flagged: bool) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "m.py").write_text(f"import functools\n{before}\n@functools.cache\ndef long():\n{body}\n"
                                   f"def short():\n{body[: -len('    x59 = 59') - 1]}")
    found = long_functions(tmp_path)
    assert [f.split(" ", 1)[1] for f in found] == (["long (61 lines)"] if flagged else [])
