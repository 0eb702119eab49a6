"""The HTTP edge is neutral ground: the apps below the API and the pages reach it without importing them."""

import ast
from pathlib import Path

import portal

PORTAL = Path(portal.__file__).parent
BELOW_THE_EDGE = ("transparency", "registry", "monitoring")
TOP_ROOMS = ("portal.api", "portal.web")


def imported_modules(path):
    """The absolute module names a file imports, function-level imports included."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def imports_of(room):
    return {
        path: imported_modules(path)
        for path in (PORTAL / room).rglob("*.py")
        if "migrations" not in path.parts
    }


def inside(name, rooms):
    return any(name == room or name.startswith(room + ".") for room in rooms)


def test_the_http_edge_imports_no_app():
    apps = [f"portal.{path.name}" for path in PORTAL.iterdir() if (path / "apps.py").exists()]

    assert sorted(name for name in imported_modules(PORTAL / "http.py") if inside(name, apps)) == []


def test_no_app_below_the_api_imports_the_api_or_the_pages():
    upward = sorted(
        f"{path.relative_to(PORTAL)} -> {name}"
        for room in BELOW_THE_EDGE
        for path, names in imports_of(room).items()
        for name in names
        if inside(name, TOP_ROOMS)
    )

    assert upward == []
