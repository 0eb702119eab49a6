"""The rooms of the code and what each may import (docs/architecture.md), checked on the import graph.

Layers, bottom up: ``verifier`` (pure), ``portal.http`` (the neutral HTTP edge), ``portal.transparency``
(the log), ``portal.registry``, ``portal.monitoring``, then ``portal.api`` and ``portal.web``. A module may
import its own layer and the layers below it, never above; no import cycle between modules, whether the
import is at the top of a file or inside a function.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {
    "verifier": 0,
    "portal.http": 1,
    "portal.transparency": 2,
    "portal.registry": 3,
    "portal.monitoring": 4,
    "portal.api": 5,
    "portal.web": 5,
}


def modules():
    """{dotted module name: path} for portal/ and verifier/, migrations left out (Django writes them)."""
    found = {}
    for path in sorted([*ROOT.glob("portal/**/*.py"), *ROOT.glob("verifier/**/*.py")]):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name, path, known):
    """The project modules ``name`` imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # ``from package import module`` depends on the module, not on the package's __init__.py
            # (a package's public face may import its modules); a name from __init__.py depends on it.
            candidates = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


def import_graph():
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def layer_of(module):
    for prefix, rank in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return prefix, rank
    return None, None


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
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
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for module, targets in import_graph().items():
        layer, rank = layer_of(module)
        for target in targets:
            target_layer, target_rank = layer_of(target)
            if rank is not None and target_rank is not None and target_rank > rank:
                upward.append(f"{module} ({layer}) imports {target} ({target_layer})")
    assert upward == []


def test_no_import_cycle_between_modules():
    assert cycles(import_graph()) == []


def test_api_and_web_do_not_import_each_other():
    crossing = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if {layer_of(module)[0], layer_of(target)[0]} == {"portal.api", "portal.web"}
    ]
    assert crossing == []


def test_the_checks_find_a_cycle_and_an_upward_import():
    graph = {
        "verifier.a": {"portal.web.b"},
        "portal.web.b": {"portal.web.c"},
        "portal.web.c": {"portal.web.b"},
    }

    assert cycles(graph) == [["portal.web.b", "portal.web.c"]]
    assert layer_of("verifier.a")[1] < layer_of("portal.web.b")[1]
