"""The package's layout stays what ARCHITECTURE.md says: imports point one way, no cycles, no module over 700 lines.

Read from the source files (imports inside functions included), so a violation fails here before anyone has to
draw the graph.
"""

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parent.parent / "src" / "fastgmm"
if not SRC.is_dir():
    pytest.skip("the source tree is not beside the tests", allow_module_level=True)

#: The layers, bottom first: a module may import its own layer and the ones below it.
LAYERS = ["utils", "kernels", "sources", "engine", "io", "families", "hmm", "top", "cli"]
TOP = {"fastgmm", "fastgmm.plot", "fastgmm._selection", "fastgmm._selection_sweep", "fastgmm._config",
       "fastgmm.datasets", "fastgmm.__main__"}


def _modules():
    out = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    for path in SRC.rglob("*.pyx"):
        out[".".join(path.relative_to(SRC.parent).with_suffix("").parts)] = path
    return out


MODULES = _modules()


def _layer(module):
    parts = module.split(".")
    if module == "fastgmm.__main__":
        return LAYERS.index("cli")
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    if parts[:2] == ["fastgmm", "datasets"]:
        return LAYERS.index("utils")
    return LAYERS.index("top")


def _imports(module, path):
    """The fastgmm modules ``module`` imports (every import statement, wherever it stands)."""
    if path.suffix == ".pyx":
        lines = [ln for ln in path.read_text().splitlines() if ln.startswith(("from ", "import ")) and " cimport " not in ln]
        tree = ast.parse("\n".join(lines))
    else:
        tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target + "." + a.name for a in node.names]
            found.update(n for n in names if n in MODULES)
            if target in MODULES and not any(n in MODULES for n in names):
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in MODULES)
    found.discard(module)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def test_the_layers_are_known():
    assert {m.split(".")[1] for m in MODULES if m.count(".") >= 1 and (SRC / m.split(".")[1]).is_dir()} <= \
        set(LAYERS) | {"datasets"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    up = sorted(t for t in GRAPH[module] if _layer(t) > _layer(module))
    assert up == [], f"{module} imports from a layer above it"


def test_no_import_cycle():
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(GRAPH[m]):
            if t == "fastgmm" or m == "fastgmm":
                continue      # the package's __init__ re-exports everything; nothing imports the package
            if state.get(t) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


def test_nothing_below_the_public_api_imports_the_package_itself():
    """``import fastgmm`` runs the package's __init__, which imports every layer: only the command line (above it)
    may."""
    below = [m for m, targets in GRAPH.items() if "fastgmm" in targets and _layer(m) < LAYERS.index("top")]
    assert sorted(below) == []


@pytest.mark.parametrize("module", sorted(m for m, p in MODULES.items() if p.suffix == ".py"))
def test_no_python_module_over_700_lines(module):
    assert len(MODULES[module].read_text().splitlines()) <= 700


def test_no_test_oracle_in_the_package():
    assert sorted(p.name for p in SRC.rglob("_reference*.py")) == []
