"""The house rules of docs/ARCHITECTURE.md, checked on the source itself.

- no import cycle between the toolkit's modules (imports inside functions count too:
  they still tie two modules together);
- data flows one way: ``spikesim`` imports neither ``calibration`` nor ``restore``,
  ``calibration`` does not import ``restore``, and no library module imports ``cli``;
- inference (``restore.despike.infer`` and what it imports) imports nothing from
  training (``train``, ``data``, ``pool``, ``loss``);
- no source file is longer than 700 lines.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("spikesim", "calibration", "restore", "cli")
MAX_LINES = 700


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(name: str, path: Path, known: set) -> set:
    """The toolkit modules ``name`` imports (absolute and relative, at any depth)."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:           # `import a.b.c` ties to the deepest module
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


@pytest.fixture(scope="module")
def graph() -> dict:
    mods = _modules()
    return {m: _imports(m, p, set(mods)) for m, p in mods.items()}


def _is_parent(a: str, b: str) -> bool:
    """A package importing its own submodule (``__init__`` re-exports) is not a cycle edge
    back from the submodule: Python finishes the submodule first."""
    return b.startswith(a + ".")


def test_no_import_cycle(graph):
    edges = {m: {t for t in ts if not _is_parent(m, t) and not _is_parent(t, m)}
             for m, ts in graph.items()}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("upstream, downstream", [
    ("spikesim", "calibration"), ("spikesim", "restore"), ("spikesim", "cli"),
    ("calibration", "restore"), ("calibration", "cli"), ("restore", "cli")])
def test_data_flows_one_way(graph, upstream, downstream):
    bad = sorted(f"{m} -> {t}" for m, ts in graph.items() if m.split(".")[0] == upstream
                 for t in ts if t.split(".")[0] == downstream)
    assert not bad, f"{upstream} must not import {downstream}: {bad}"


def test_inference_imports_nothing_from_training(graph):
    training = {"restore.despike.train", "restore.despike.data", "restore.despike.pool",
                "restore.despike.loss"}
    seen, todo = set(), ["restore.despike.infer"]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(t for t in graph.get(m, ()) if not _is_parent(t, m))
    assert not seen & training, sorted(seen & training)
    assert "restore.despike.weights" in seen and "restore.despike.encoding" in seen


def test_no_source_file_over_700_lines():
    long = {str(p.relative_to(ROOT)): n for pkg in PACKAGES + ("tests", "bench", "examples")
            for p in (ROOT / pkg).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long
