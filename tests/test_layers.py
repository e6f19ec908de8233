"""The package's folders import only downward (issue 23, item 1): no cycle between them, and a stated layer order.

The import graph is read from the source (every ``import vqaloop...`` and ``from vqaloop... import``, lazy imports
inside functions included), one node per top-level folder or module of ``src/vqaloop``. ``LAYERS`` is the order,
bottom to top (docs/ARCHITECTURE.md, "Layers"): a node imports only nodes of lower layers, never one of its own
layer or above. The one way up is a registry loading its own plug-ins, and the command table
(``vqaloop.cli.COMMANDS``) loading a command's module: both name modules as strings (``importlib``), which is no
import statement, so no edge here. A new folder or top-level module must be placed in ``LAYERS``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "vqaloop"

# bottom to top; each layer imports only the layers below it
LAYERS: list[set[str]] = [
    {"errors", "__init__", "benchmarking"},  # the package's error type; modules that import nothing of the package
    {
        "io",
        "dispatch",
        "registry",
        "schema",
        "variants",
        "cluster",
        "scheduling",
    },  # the floor: files, CPU pin, registries, schema
    {"cli_checks", "losses", "workflow_paths"},  # argument checks; the loss registries; the work-folder layout
    {"evaluation", "datasets", "vlm"},  # metrics, oracle, gMAD; dataset adapters; VLM primitives (load, prompt, score)
    {"features"},  # encoders, the features store, model inputs read on demand
    {"models"},  # base models, checkpoints, model inputs and prediction; predict, embed, evaluate, score (VLM)
    {"config", "training", "selection"},  # the run config's checks; training loops (GRPO too); selection methods
    {"corpus"},  # sources, rendering, manifests, the paper datasets' manifests, the placeholder tree
    {"w2s"},  # W2S-VQA: teachers, pairs, students, scoring
    {"tables"},  # tables, figures, claims
    {"controls"},  # the positive controls
    {"cli", "devices", "provenance"},  # the command table; gpu-run; job records and run comparison
    {"batch", "__main__"},  # several commands in one process; python -m vqaloop
]


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


def upward_imports(graph: dict[str, set[str]], layers: list[set[str]]) -> list[tuple[str, str]]:
    """The edges a -> b with b not in a layer below a's."""
    rank = {node: i for i, layer in enumerate(layers) for node in layer}
    return sorted((a, b) for a, targets in graph.items() for b in targets if rank[b] >= rank[a])


def test_the_cycle_finder_finds_a_planted_cycle_and_nothing_in_a_chain():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": {"c"}}) == []


def test_the_layer_check_finds_a_planted_upward_and_sideways_import():
    layers = [{"a"}, {"b", "c"}, {"d"}]
    assert upward_imports({"d": {"b"}, "b": {"a"}, "c": {"a"}}, layers) == []
    assert upward_imports({"a": {"d"}, "b": {"c"}, "d": {"a"}}, layers) == [("a", "d"), ("b", "c")]


def test_no_import_cycle_between_the_packages_folders():
    assert cycles(import_graph()) == []


def test_every_folder_has_one_layer():
    nodes = {node_of(path) for path in PACKAGE.rglob("*.py")}
    placed = [node for layer in LAYERS for node in layer]
    assert len(placed) == len(set(placed)), "a node in two layers"
    assert nodes <= set(placed), f"not placed in LAYERS: {sorted(nodes - set(placed))}"


def test_every_import_runs_down_the_layers():
    assert upward_imports(import_graph(), LAYERS) == []


def test_the_lower_layers_import_nothing_above_them():
    """errors, io, dispatch and registry are the floor: they import no other folder but each other."""
    graph = import_graph()
    floor = {"errors", "io", "dispatch", "registry"}
    for node in floor:
        assert graph.get(node, set()) <= floor, (node, graph.get(node))
