"""The shape of the house: the pure library never imports Prefect, and its modules import no circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

COFI = Path(__file__).resolve().parents[1] / "cofi"

# Import circles known in code being rewritten, each as the set of modules on it. Each entry is
# to go when its rewrite lands; a new circle, or a known one that grows, fails the test.
KNOWN_CYCLES: list[frozenset[str]] = []


def cofi_modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module and package under cofi/."""
    modules = {}
    for path in sorted(COFI.rglob("*.py")):
        parts = path.relative_to(COFI.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import in the module, at top level or in a function, but not under TYPE_CHECKING
    (those never run, so they close no circle)."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
        else:
            pending.extend(ast.iter_child_nodes(node))
    return found


def lazy_exports(path: Path) -> dict[str, str]:
    """A package's ``_EXPORTS`` (name -> module its ``__getattr__`` imports it from), if any."""
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "_EXPORTS" for target in node.targets
        ):
            return ast.literal_eval(node.value)
    return {}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The cofi modules that module ``name`` (source at ``path``) imports.

    A name a package exports lazily (``from cofi import fit``, or ``import cofi`` and then
    ``cofi.fit``) counts as an import of the module it comes from.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    targets: set[str] = set()
    lazy_packages: dict[str, dict[str, str]] = {}  # local name -> that package's exports
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                targets.add(alias.name)
                if alias.name in modules and modules[alias.name].name == "__init__.py":
                    exports = lazy_exports(modules[alias.name])
                    if exports and "." not in alias.name:
                        lazy_packages[alias.asname or alias.name] = exports
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        exports = lazy_exports(modules[source]) if source in modules else {}
        for alias in node.names:
            # `from cofi.x import y` imports the module cofi.x.y when there is one.
            submodule = f"{source}.{alias.name}"
            targets.add(submodule if submodule in modules else exports.get(alias.name, source))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in lazy_packages
        ):
            targets.add(lazy_packages[node.value.id].get(node.attr, node.value.id))
    return {target for target in targets if target in modules and target != name}


def import_graph() -> dict[str, set[str]]:
    modules = cofi_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle (a closed path, first module repeated at the end) per strongly connected
    component of more than one module, found with Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_closed_path(graph, component) for component in components]


def _closed_path(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest circle through the component's first module, staying inside the component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & component):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"{sorted(component)} is not strongly connected")


def test_the_cycle_finder_finds_a_circle_and_only_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}
    assert import_cycles(graph) == [["a", "b", "c", "a"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_imports_are_read_from_every_place_they_can_hide(tmp_path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "from __future__ import annotations\n"
        "import cofi.errors\n"
        "from typing import TYPE_CHECKING\n"
        "from . import settings\n"
        "from .evaluation import metrics\n"
        "from cofi.outputs.report import plot_run\n"
        "if TYPE_CHECKING:\n"
        "    from cofi import api\n"
        "def late():\n"
        "    from cofi.evaluation.splits import k_fold\n"
        "    from cofi import split_random\n"
        "    import cofi\n"
        "    return cofi.Model\n"
    )
    modules = cofi_modules()
    assert imports_of("cofi.mod", source, modules) == {
        "cofi.errors",
        "cofi.settings",
        "cofi.evaluation.metrics",
        "cofi.outputs.report",
        "cofi.evaluation.splits",
        # lazily exported by cofi/__init__.py
        "cofi.evaluation.holdout",
        "cofi.models.model",
        "cofi",
    }


def test_cofi_modules_import_no_circle() -> None:
    graph = import_graph()
    assert len(graph) > 10 and all(name.startswith("cofi") for name in graph)
    cycles = import_cycles(graph)
    unknown = [cycle for cycle in cycles if not any(set(cycle) <= known for known in KNOWN_CYCLES)]
    assert not unknown, "import circles: " + "; ".join(" -> ".join(cycle) for cycle in unknown)


def test_known_cycles_are_still_there() -> None:
    # An allow-list entry whose circle is gone must be removed, so it cannot hide a new one.
    components = [set(cycle) for cycle in import_cycles(import_graph())]
    gone = [sorted(known) for known in KNOWN_CYCLES if not any(known & c for c in components)]
    assert not gone, f"these circles are gone: drop them from KNOWN_CYCLES: {gone}"


def test_importing_all_of_cofi_leaves_prefect_out() -> None:
    modules = sorted(cofi_modules())
    # Import each module in turn and name the first one that brings Prefect in.
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    if 'prefect' in sys.modules:\n"
        "        sys.exit(f'importing {name} imports prefect')\n"
        "import cofi; cofi.fit\n"
        "print(len(sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=COFI.parent,
    )
    assert result.returncode == 0, result.stderr[-2000:]
