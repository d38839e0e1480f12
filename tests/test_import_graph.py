"""The package's import graph: no circles, nothing importing a layer above it.

Every `import` of an mdn_tf module in mdn_tf/ is read from the source (the
ones inside functions too: a circle through a function-level import is still
a circle, only deferred). `LAYERS` is the order of docs/architecture.md:
a module may import its own layer and the layers before it.
"""

import ast
import os
import re

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "mdn_tf")

# Lowest first. Same order as the picture in docs/architecture.md.
LAYERS = (
    ("backend_check", "cache", "skeleton"),
    ("ops",),
    ("layers",),
    ("", "losses"),  # "": mdn_tf/__init__.py (it imports the layer)
    ("models",),
    ("final_supervision",),
    ("data",),
    ("inference", "evaluation", "visualization", "model_figures", "export", "deploy"),
    ("training",),
    ("research",),
    ("cli",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# Packages whose function-level imports of mdn_tf modules must say why they are
# there: the commands keep `--help` free of TensorFlow, the rest imports at the top.
NO_HIDDEN_IMPORTS = ("training", "research")


def _module_name(path):
    relative = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
    return relative[: -len(".__init__")] if relative.endswith(".__init__") else relative


def _modules():
    found = {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                found[_module_name(path)] = path
    return found


def _resolve(name, modules):
    """The module `name` names, or its package when `name` is an attribute."""
    while name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in modules else None


def _imports(path, modules):
    """`(imported module, line, inside a function)` for each mdn_tf import."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            names = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                # `from a.b import c`: c may be a module of a.b or a name in it.
                names = [f"{child.module}.{alias.name}" for alias in child.names]
            for name in names:
                if name == "mdn_tf" or name.startswith("mdn_tf."):
                    target = _resolve(name, modules)
                    if target is not None:
                        found.append((target, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def _layer(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _graph():
    modules = _modules()
    return modules, {name: _imports(path, modules) for name, path in modules.items()}


def test_every_package_has_a_layer():
    modules, _ = _graph()
    assert {_layer(name) for name in modules} <= set(RANK), "add new packages to LAYERS"


def test_no_module_imports_a_layer_above_its_own():
    modules, graph = _graph()
    upward = [
        f"{modules[source]}:{line}: {source} ({_layer(source)}) imports {target} "
        f"({_layer(target)})"
        for source, imports in graph.items() for target, line, _ in imports
        if RANK[_layer(target)] > RANK[_layer(source)]
    ]
    assert not upward, "\n".join(upward)


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def connect(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target, _, _ in graph.get(node, ()):
            if target == node:
                continue
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def test_no_import_circles():
    _, graph = _graph()
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_circle():
    graph = {"a": [("b", 1, False)], "b": [("c", 1, True)], "c": [("a", 1, False)], "d": []}
    assert _cycles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", NO_HIDDEN_IMPORTS)
def test_library_packages_import_at_the_top(package):
    modules, graph = _graph()
    hidden = []
    for source, imports in graph.items():
        if _layer(source) != package:
            continue
        lines = open(modules[source], encoding="utf-8").read().splitlines()
        for target, line, in_function in imports:
            # A function-level import must say why on its line or the line above.
            reason = " ".join(lines[max(0, line - 2): line])
            if in_function and "imported here" not in reason.lower():
                hidden.append(f"{modules[source]}:{line}: {target}")
    assert not hidden, "\n".join(hidden)


def test_the_architecture_page_lists_the_same_layers():
    page = os.path.join(os.path.dirname(ROOT), "docs", "architecture.md")
    rows = [line.split("|") for line in open(page, encoding="utf-8")
            if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
    # Backticked module names of the second column; the page names
    # mdn_tf/__init__.py as a path, which LAYERS calls "".
    documented = [tuple(name for name in re.findall(r"`([^`]+)`", row[2]) if "/" not in name)
                  for row in rows]
    assert documented == [tuple(name for name in names if name) for names in LAYERS]
