"""The import graph of ``rlvr_bench`` has no cycle, and persistence and presentation sit below computation.

The graph is read from the source with :mod:`ast` (nothing is imported). An edge
A -> B is any ``import`` of B in A: at module level, and also inside functions
and methods. A function-local import is deferred for start-up cost (torch,
matplotlib), not to break a loop: it runs whenever the function does, so a cycle
through it is still a cycle (``rundir`` rendering the report that imports
``rundir`` was one). Only ``if TYPE_CHECKING:`` blocks are left out, since they
never run. ``from P import name`` is an edge to the module ``P.name`` when there
is one, else to ``P``. Importing ``P.m`` also runs ``P/__init__.py``; that
implicit edge to a parent package is not counted (a package re-exporting its
submodules would otherwise always be a cycle).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "rlvr_bench"
SOURCE = Path(__file__).resolve().parents[1] / PACKAGE

#: the layers above persistence and presentation (imports point down only: cli > pipelines, training >
#: report > rundir > judging > judges > stats, records): what rundir and report must never import, so that
#: every command can write its run with rundir and then render it with report
ABOVE: dict[str, tuple[str, ...]] = {
    "rlvr_bench.rundir": ("rlvr_bench.report", "rlvr_bench.pipelines", "rlvr_bench.training", "rlvr_bench.cli"),
    "rlvr_bench.report": ("rlvr_bench.pipelines", "rlvr_bench.training", "rlvr_bench.cli"),
}


def module_files(root: Path = SOURCE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package is named by its ``__init__.py``)."""
    modules = {}
    for file in sorted(root.rglob("*.py")):
        parts = list(file.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = file
    return modules


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if _is_type_checking(node):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _import_nodes(node)


def imported_modules(name: str, file: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that module ``name`` (source ``file``) imports anywhere in its body."""

    def known(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str | None] = set()
    for node in _import_nodes(ast.parse(file.read_text(encoding="utf-8"), str(file))):
        if isinstance(node, ast.Import):
            found.update(known(alias.name) for alias in node.names if alias.name.split(".")[0] == PACKAGE)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        if base.split(".")[0] != PACKAGE:
            continue
        found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else known(base)
                     for alias in node.names)
    return {module for module in found if module is not None and module != name}


def import_graph(root: Path = SOURCE) -> dict[str, set[str]]:
    modules = module_files(root)
    return {name: imported_modules(name, file, modules) for name, file in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a module path ending where it starts) per strongly connected component that has one.

    Tarjan's algorithm, iterative so a deep graph cannot hit the recursion limit.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.get(succ, ())))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    return [_cycle_in(sorted(component), graph) for component in components]


def _cycle_in(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first inside the component)."""
    members, start = set(component), component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for succ in sorted(graph[node] & members):
                if succ == start:
                    return [*paths[node], start]
                if succ not in paths:
                    paths[succ] = [*paths[node], succ]
                    following.append(succ)
        frontier = following
    raise AssertionError(f"no cycle through {start} in its own component")


def _inside(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


def test_the_package_imports_have_no_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


@pytest.mark.parametrize("layer", sorted(ABOVE))
def test_persistence_and_presentation_import_nothing_above_them(layer: str) -> None:
    graph = import_graph()
    breaches = sorted(f"{module} imports {target}" for module, targets in graph.items() if _inside(module, layer)
                      for target in targets if any(_inside(target, above) for above in ABOVE[layer]))
    assert not breaches, "\n".join(breaches)


def test_the_library_never_imports_the_cli() -> None:
    graph = import_graph()
    breaches = sorted(f"{module} imports {target}" for module, targets in graph.items()
                      if not _inside(module, "rlvr_bench.cli") for target in targets
                      if _inside(target, "rlvr_bench.cli"))
    assert not breaches, "\n".join(breaches)


# the checker itself, on a package built for the purpose: a cycle only through a function-local import
# is found, a TYPE_CHECKING import is not an edge, and relative imports resolve


def _write_package(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / PACKAGE / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / PACKAGE


def test_a_cycle_through_a_function_local_import_is_found(tmp_path: Path) -> None:
    source = _write_package(tmp_path, {
        "__init__.py": "",
        "store.py": "def save():\n    from rlvr_bench.view import render\n    render()\n",
        "view/__init__.py": "from rlvr_bench.view.page import render\n",
        "view/page.py": "from ..store import save\n\ndef render():\n    pass\n",
    })
    graph = import_graph(source)
    assert graph["rlvr_bench.store"] == {"rlvr_bench.view"}
    assert graph["rlvr_bench.view.page"] == {"rlvr_bench.store"}
    assert cycles(graph) == [["rlvr_bench.store", "rlvr_bench.view", "rlvr_bench.view.page", "rlvr_bench.store"]]


def test_type_checking_imports_and_parent_packages_are_not_edges(tmp_path: Path) -> None:
    source = _write_package(tmp_path, {
        "__init__.py": "",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from rlvr_bench.b import B\n",
        "b.py": "from rlvr_bench import a\nimport rlvr_bench.sub.c\n",
        "sub/__init__.py": "",
        "sub/c.py": "from . import d\nfrom .d import thing\n",
        "sub/d.py": "thing = 1\n",
    })
    graph = import_graph(source)
    assert graph["rlvr_bench.a"] == set()
    assert graph["rlvr_bench.b"] == {"rlvr_bench.a", "rlvr_bench.sub.c"}
    assert graph["rlvr_bench.sub.c"] == {"rlvr_bench.sub.d"}
    assert cycles(graph) == []
