"""A throw-away portal for benchmarks that run in-process: its own database, var folder and log key.

SQLite in a temporary directory by default; with ``database_url`` (PostgreSQL), that database is
flushed first, so never point it at one that matters.
"""

import argparse
import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_portal(prefix, database_url="", *, redis_url="", settings_module="portal.settings"):
    """Configure and migrate a fresh portal; returns its work directory.

    ``redis_url`` makes Redis the broker; ``settings_module`` lets a benchmark run the settings its
    Celery workers use.
    """
    work = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, work, True)
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{work / 'bench.sqlite3'}"
    os.environ["VITRINA_TESTING"] = "1"
    os.environ["VITRINA_VAR_DIR"] = str(work / "var")
    os.environ["VITRINA_LOG_KEY_FILE"] = str(work / "log.key")
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    if redis_url:
        os.environ["REDIS_URL"] = redis_url

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from portal.transparency.signing import generate_key_file

    if connection.vendor == "postgresql":
        call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)
    generate_key_file()
    return work


def benchmark_arguments(doc, *, redis_db=None):
    """The command line an in-process benchmark starts from: the first paragraph of ``doc`` as its
    description, ``--database-url`` (empty: SQLite in a temporary folder) and, given ``redis_db``,
    ``--redis-url`` on that Redis database of its own. Add the benchmark's sizes, then parse."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--database-url", default="")
    if redis_db is not None:
        parser.add_argument("--redis-url", default=f"redis://127.0.0.1:6379/{redis_db}")
    return parser


def report(lines, name):
    """Print the figures and make them benchmarks/results/<name>.txt."""
    text = "\n".join(lines) + "\n"
    print(text, end="")
    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    (ROOT / "benchmarks" / "results" / f"{name}.txt").write_text(text)
