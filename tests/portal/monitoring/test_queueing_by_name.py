"""Tasks are queued by name: nothing in the monitoring app imports ``tasks.py`` back, so the tasks module
sits on top of the app and no import cycle runs through it (issue 9's cycle 1: checks -> notifications ->
tasks -> checks, and dispatch <-> tasks)."""

import ast
from pathlib import Path

from portal.celery import app
from portal.monitoring import dispatch, notifications

APP = Path(__file__).resolve().parents[3] / "portal" / "monitoring"


def imported(path):
    """Every module ``path`` imports, at the top or inside a function, spelled as written."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names |= {base} | {f"{base}.{alias.name}".replace("..", ".") for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


def imports_tasks(path):
    return any(
        name in (".tasks", "portal.monitoring.tasks")
        or name.startswith((".tasks.", "portal.monitoring.tasks."))
        for name in imported(path)
    )


def test_no_module_of_the_app_imports_the_tasks():
    """But apps.py, which registers them once Django is ready, and which no module imports."""
    importers = [
        path.name
        for path in sorted(APP.glob("*.py"))
        if path.name not in ("tasks.py", "apps.py") and imports_tasks(path)
    ]

    assert importers == [], f"{importers} import tasks.py: queue the task by name instead"


def test_the_names_queued_are_the_tasks_registered():
    names = [dispatch.CHECK_ENVIRONMENT, dispatch.CHECK_ENVIRONMENTS, notifications.DELIVER_NOTIFICATION]

    assert [name in app.tasks for name in names] == [True, True, True]
