"""The package's folders import each other without new cycles (issue 23, item 1: a ratchet until the cycle is gone).

The import graph is read from the source (every ``import vqaloop...`` and ``from vqaloop... import``, lazy imports
inside functions included), one node per top-level folder or module of ``src/vqaloop``. Today one strongly connected
component remains, through ten folders (``KNOWN_CYCLE``), held together by the edges of ``KNOWN_CYCLE_EDGES``
(README "Not done yet"). A new cycle, or a new edge inside the known one, fails; an edge removed from it only asks
for this list to shrink.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "vqaloop"

KNOWN_CYCLE: set[str] = set()
KNOWN_CYCLE_EDGES: set[tuple[str, str]] = set()


def node_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def import_graph() -> dict[str, set[str]]:
    """node -> the nodes it imports (self-imports dropped)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        source = node_of(path)
        for item in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(item, ast.ImportFrom) and item.module and item.module.startswith("vqaloop"):
                names = [f"vqaloop.{a.name}" for a in item.names] if item.module == "vqaloop" else [item.module]
            elif isinstance(item, ast.Import):
                names = [a.name for a in item.names if a.name.startswith("vqaloop.")]
            for name in names:
                parts = name.split(".")
                if len(parts) > 1 and parts[1] != source:
                    graph[source].add(parts[1])
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_planted_cycle_and_nothing_in_a_chain():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": {"c"}}) == []


def test_no_new_import_cycle_between_the_packages_folders():
    graph = import_graph()
    found = cycles(graph)
    assert all(component <= KNOWN_CYCLE for component in found), found
    inside = {(a, b) for a in KNOWN_CYCLE for b in graph.get(a, ()) if b in KNOWN_CYCLE}
    assert inside <= KNOWN_CYCLE_EDGES, f"new edges inside the known cycle: {sorted(inside - KNOWN_CYCLE_EDGES)}"


def test_the_lower_layers_import_nothing_above_them():
    """errors, io, dispatch and registry are the floor: they import no other folder but each other."""
    graph = import_graph()
    floor = {"errors", "io", "dispatch", "registry"}
    for node in floor:
        assert graph.get(node, set()) <= floor, (node, graph.get(node))
