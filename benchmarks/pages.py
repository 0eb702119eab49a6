"""Benchmark: requests per second of the public pages and a badge, as a ratio to a static file.

Builds a throw-away site in a temporary directory: a fresh database (SQLite there, or the PostgreSQL
database named by ``DATABASE_URL`` / ``--database-url``, created here and dropped at the end), migrated,
then filled like a real portal: ``--projects`` projects with ``--environments`` environments each, a
signing key per project, signed releases and deployments registered through the registry services (so
their transparency-log entries exist, integrated and audited), a status per environment (a mix of green,
red and not checked) and ``--history-days`` of checks, one every ``--check-minutes`` per environment,
with red and amber spells that changed the status as real ones do. Static files are collected, then
gunicorn is started with the project's ``gunicorn.conf.py`` and ``DEBUG`` off on a free loopback port.

For a static file served by the same gunicorn (the baseline) and each public page, after a warm-up,
``--runs`` fixed-length runs of ``--duration`` seconds with ``--connections`` concurrent keep-alive clients
each; the median req/s, p50 and p99 across runs are reported, and each page's req/s as a ratio to the
static file's. The machine is shared and noisy, so the ratio is the figure to compare between runs, not
the absolute req/s. The load generator is ``wrk`` when it is on PATH (``apt-get install wrk``), else a
Python thread pool with http.client. Traffic stays on 127.0.0.1.

Each page's server-side cost is also measured one request at a time in one process: its SQL queries,
its CPU time as a visitor meets it (the page's shared fragments cached, as they are between two status
changes) and when every cache was just emptied.

    .venv/bin/python benchmarks/pages.py [--duration 10] [--runs 3] [--connections 16]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_pages .venv/bin/python benchmarks/pages.py

Prints the figures and writes them to benchmarks/results/pages.txt (``--output``).
"""

import argparse
import http.client
import json
import os
import platform
import re
import runpy
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Goals, as a share of the static file's req/s in the same run, and in CPU per request.
TARGET_RATIO = {"home": 0.5, "project page": 0.5, "badge": 0.9}
TARGET_CPU_MS = 5
STATIC_PATH = "/static/css/vitrina.css"
ENVIRONMENT_NAMES = ["production", "staging", "preview", "demo", "testing", "qa"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per URL")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per URL")
    parser.add_argument("--connections", type=int, default=16, help="concurrent clients")
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--environments", type=int, default=3, help="environments per project")
    parser.add_argument("--history-days", type=int, default=365, help="days of checks per environment")
    parser.add_argument("--check-minutes", type=int, default=60, help="minutes between two checks kept")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--load-generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "pages.txt"))
    parser.add_argument("--seed", action="store_true", help=argparse.SUPPRESS)  # internal: fill the database
    args = parser.parse_args()
    if args.seed:
        seed(args)
        return
    if not 1 <= args.environments <= len(ENVIRONMENT_NAMES):
        parser.error(f"--environments must be 1 to {len(ENVIRONMENT_NAMES)}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up on a plain kill too
    try:
        Bench(args).run()
    except KeyboardInterrupt:
        print("\nInterrupted; cleaned up.", file=sys.stderr)
        sys.exit(130)


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = None
        self.gunicorn = None
        self.created_database = None

    def run(self):
        args = self.args
        self.load_before = os.getloadavg()[0]
        if self.load_before > 0.5 * (os.cpu_count() or 1):
            print(
                f"Note: the machine is already busy (load average {self.load_before:.1f}); "
                "figures will be lower than on an idle machine.",
                flush=True,
            )
        self.work = Path(tempfile.mkdtemp(prefix="vitrina-bench-pages-"))
        try:
            started = time.monotonic()
            self.env = self.make_env()
            self.manage("migrate", "--noinput", "-v", "0")
            self.manage("collectstatic", "--noinput", "-v", "0")
            self.manage("genlogkey")
            print(
                f"Filling the database: {args.projects} projects x {args.environments} environments, "
                f"{args.history_days} days of checks every {args.check_minutes} min...",
                flush=True,
            )
            t0 = time.monotonic()
            seeded = json.loads(
                self.python_json([str(Path(__file__).resolve()), "--seed", *self.size_args()])
            )
            print(f"  filled in {time.monotonic() - t0:.1f} s: {seeded['counts']}", flush=True)
            self.seeded = seeded
            self.start_gunicorn()
            generator = self.pick_generator()
            print(f"Load generator: {generator}", flush=True)
            base = f"http://127.0.0.1:{self.port}"
            urls = [("static file", STATIC_PATH), *seeded["pages"]]
            rows = []
            for label, path in urls:
                self.check_url(base + path)
                # Warm-up: every worker compiles its templates, fills its caches, opens its connection.
                self.load(generator, base + path, args.warmup)
                runs = []
                for n in range(args.runs):
                    result = self.load(generator, base + path, args.duration)
                    print(
                        f"  {label:<13} run {n + 1}/{args.runs}: {result['rps']:8.1f} req/s  "
                        f"p50 {result['p50']:7.1f} ms  p99 {result['p99']:7.1f} ms  "
                        f"errors {result['errors']}",
                        flush=True,
                    )
                    runs.append(result)
                rows.append((label, path, runs))
            report = self.report(rows, generator, time.monotonic() - started)
            print()
            print(report)
            output = Path(args.output)
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(report)
            print(f"Written to {output}")
        finally:
            self.cleanup()

    # --- set-up ---------------------------------------------------------------------------------------

    def size_args(self):
        a = self.args
        return [
            f"--projects={a.projects}",
            f"--environments={a.environments}",
            f"--history-days={a.history_days}",
            f"--check-minutes={a.check_minutes}",
        ]

    def make_env(self):
        env = dict(os.environ)
        for name in ("PYTEST_VERSION", "DJANGO_SETTINGS_MODULE", "WEB_CONCURRENCY_OVERRIDE"):
            env.pop(name, None)
        self.port = free_port()
        database_url = self.args.database_url or f"sqlite:///{self.work / 'bench.sqlite3'}"
        if database_url.startswith(("postgres://", "postgresql://")):
            self.create_postgres_database(database_url)
        env.update(
            DJANGO_SETTINGS_MODULE="portal.settings",
            DATABASE_URL=database_url,
            DEBUG="0",
            VITRINA_TESTING="0",
            SECRET_KEY=secrets.token_urlsafe(50),
            VITRINA_VAR_DIR=str(self.work / "var"),
            VITRINA_LOG_KEY_FILE=str(self.work / "log-signing.key"),
            STATIC_ROOT=str(self.work / "static"),
            HOST="127.0.0.1",
            PORT=str(self.port),
            SITE_URL=f"http://127.0.0.1:{self.port}",
            PYTHONUNBUFFERED="1",
        )
        env.pop("GUNICORN_BIND", None)
        # Celery's filesystem broker folders, as scripts/run.sh makes them, so /healthz finds them.
        (self.work / "var" / "broker" / "queue").mkdir(parents=True)
        (self.work / "var" / "broker" / "processed").mkdir(parents=True)
        self.database_url = database_url
        return env

    def create_postgres_database(self, url):
        import psycopg
        from psycopg import sql

        parsed = urlparse(url)
        name = unquote(parsed.path.lstrip("/"))
        if not name:
            raise SystemExit("The PostgreSQL DATABASE_URL must name a database, e.g. .../bench_pages")
        with psycopg.connect(self.maintenance_dsn(parsed), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if exists:
                raise SystemExit(
                    f"Database {name!r} already exists; the benchmark fills a fresh one and drops it at the "
                    "end. Name another database, or drop this one first."
                )
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created_database = (parsed, name)

    @staticmethod
    def maintenance_dsn(parsed):
        return parsed._replace(scheme="postgresql", path="/postgres").geturl()

    def drop_postgres_database(self):
        import psycopg
        from psycopg import sql

        parsed, name = self.created_database
        with psycopg.connect(self.maintenance_dsn(parsed), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def manage(self, *command):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def python_json(self, argv):
        """Run a Python script with the site's environment and return its last line of output."""
        done = subprocess.run([sys.executable, *argv], cwd=ROOT, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"Filling the database failed:\n{done.stderr[-3000:]}")
        return done.stdout.strip().splitlines()[-1]

    def gunicorn_settings(self):
        saved = dict(os.environ)
        try:
            os.environ.update(self.env)
            conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return conf["workers"], conf["threads"]

    def start_gunicorn(self):
        self.workers, self.threads = self.gunicorn_settings()
        gunicorn = Path(sys.executable).parent / "gunicorn"
        self.gunicorn_log = open(self.work / "gunicorn.log", "wb")  # noqa: SIM115 - closed in cleanup()
        self.gunicorn = subprocess.Popen(
            [str(gunicorn), "portal.wsgi:application", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=self.env,
            stdout=self.gunicorn_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us, and we stop gunicorn in order
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.gunicorn.poll() is not None:
                raise SystemExit(f"gunicorn exited early:\n{self.tail_log()}")
            try:
                status, _ = get(self.port, "/healthz")
                if status == 200:
                    print(
                        f"gunicorn answering on 127.0.0.1:{self.port} "
                        f"({self.workers} workers x {self.threads} threads)",
                        flush=True,
                    )
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"gunicorn did not answer within 30 s:\n{self.tail_log()}")

    def tail_log(self):
        return (self.work / "gunicorn.log").read_text(errors="replace")[-3000:]

    def check_url(self, url):
        status, body = get(self.port, urlparse(url).path)
        if status != 200:
            raise SystemExit(f"{url} answered {status}:\n{body[:500]!r}\n{self.tail_log()}")

    def cleanup(self):
        if self.gunicorn is not None and self.gunicorn.poll() is None:
            self.gunicorn.send_signal(signal.SIGTERM)
            try:
                self.gunicorn.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.gunicorn.pid, signal.SIGKILL)
                self.gunicorn.wait()
        if getattr(self, "gunicorn_log", None):
            self.gunicorn_log.close()
        if self.created_database:
            try:
                self.drop_postgres_database()
            except Exception as exc:  # noqa: BLE001 - report and go on cleaning
                print(f"Could not drop database {self.created_database[1]!r}: {exc}", file=sys.stderr)
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)

    # --- load -----------------------------------------------------------------------------------------

    def pick_generator(self):
        choice = self.args.load_generator
        if choice in ("auto", "wrk") and shutil.which("wrk"):
            return "wrk"
        if choice == "wrk":
            raise SystemExit("wrk is not on PATH (Debian: apt-get install wrk)")
        return "python"

    def load(self, generator, url, duration):
        if generator == "wrk":
            return wrk(url, self.args.connections, duration)
        return python_load(url, self.args.connections, duration)

    # --- report ---------------------------------------------------------------------------------------

    def report(self, rows, generator, elapsed):
        import django

        a = self.args
        engine, engine_version = self.seeded["database"]
        lines = [
            "Vitrina public pages under gunicorn",
            "",
            f"date:            {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
            f"machine:         {platform.machine()}, {os.cpu_count()} CPU cores shared by gunicorn and the "
            "load generator (loopback); "
            f"1-min load average before the run: {self.load_before:.2f}",
            f"software:        Python {platform.python_version()}, Django {django.get_version()}, "
            f"gunicorn {gunicorn_version()}",
            f"database:        {engine} {engine_version}",
            f"gunicorn:        {self.workers} workers x {self.threads} threads (gunicorn.conf.py), "
            "DEBUG off, access log on",
            f"load generator:  {generator_description(generator)}",
            f"load:            {a.connections} concurrent keep-alive clients, "
            f"{a.runs} runs x {a.duration:g} s per URL after a {a.warmup:g} s warm-up; medians across runs",
            f"data:            {self.seeded['counts']}",
            "",
            f"{'URL':<14}{'path':<34}{'req/s':>9}{'ratio':>7}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}  goal",
        ]
        static_rps = statistics.median(r["rps"] for r in rows[0][2])
        for label, path, runs in rows:
            rps = statistics.median(r["rps"] for r in runs)
            p50 = statistics.median(r["p50"] for r in runs)
            p99 = statistics.median(r["p99"] for r in runs)
            errors = sum(r["errors"] for r in runs)
            ratio = rps / static_rps if static_rps else 0.0
            goal = ""
            if label in TARGET_RATIO:
                met = ratio >= TARGET_RATIO[label] and not errors
                goal = f">= {TARGET_RATIO[label]:.1f}x: {'met' if met else 'MISSED'}"
            lines.append(
                f"{label:<14}{path:<34}{rps:>9.1f}{ratio:>6.2f}x{p50:>9.1f}{p99:>9.1f}{errors:>8}  {goal}"
            )
        lines += [
            "",
            "Server-side cost per request, one at a time in one process (Django test client, no HTTP),",
            "medians: CPU ms as a visitor meets the page (shared fragments cached), and right after every",
            f"cache was emptied (the rare request that renders them again). Goal: CPU < {TARGET_CPU_MS} ms.",
            f"{'URL':<14}{'SQL queries':>12}{'CPU ms':>8}{'cold CPU ms':>13}{'cold wall ms':>14}  goal",
        ]
        for label, path, _ in rows[1:]:
            cost = self.seeded["cost"].get(path)
            if cost:
                met = "met" if cost["cpu_ms"] < TARGET_CPU_MS else "MISSED"
                lines.append(
                    f"{label:<14}{cost['queries']:>12}{cost['cpu_ms']:>8.2f}{cost['cold_cpu_ms']:>13.1f}"
                    f"{cost['cold_ms']:>14.1f}  {met}"
                )
        lines += ["", f"whole run: {elapsed:.0f} s", ""]
        return "\n".join(lines)


# --- load generators ------------------------------------------------------------------------------


def wrk(url, connections, duration):
    threads = max(1, min(connections, os.cpu_count() or 1))
    done = subprocess.run(
        # A long timeout: a slow answer is a latency to count, not a socket error left out of the percentiles.
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "60s",
            "--latency",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    out = done.stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)\s*$", out, re.MULTILINE))
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    if rps is None or "50" not in percentiles or "99" not in percentiles:
        raise SystemExit(f"Could not read wrk's output:\n{out}\n{done.stderr}")
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return {
        "rps": float(rps.group(1)),
        "p50": to_ms(percentiles["50"]),
        "p99": to_ms(percentiles["99"]),
        "errors": errors,
    }


def to_ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000}[unit]


def python_load(url, connections, duration):
    """``connections`` threads, each a keep-alive http.client connection, for ``duration`` seconds."""
    parsed = urlparse(url)
    latencies = [[] for _ in range(connections)]
    errors = [0] * connections
    start = time.monotonic()
    deadline = start + duration

    def client(n):
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        own = latencies[n]
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                conn.request("GET", parsed.path)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                errors[n] += 1
                conn.close()
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
                continue
            own.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                errors[n] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    merged = sorted(value for own in latencies for value in own)
    if not merged:
        return {"rps": 0.0, "p50": float("nan"), "p99": float("nan"), "errors": sum(errors)}
    return {
        "rps": len(merged) / elapsed,
        "p50": percentile(merged, 50),
        "p99": percentile(merged, 99),
        "errors": sum(errors),
    }


def percentile(ordered, pct):
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def generator_description(generator):
    if generator == "wrk":
        version = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        found = re.search(r"(\d+\.\d+\.\d+)", version.stdout + version.stderr)
        threads = os.cpu_count() or 1
        return f"wrk {found.group(1) if found else ''} ({threads} threads, keep-alive, --latency)".replace(
            "  ", " "
        )
    return "Python http.client threads (wrk not found; the generator takes a good share of the CPU)"


def gunicorn_version():
    try:
        from importlib.metadata import version

        return version("gunicorn")
    except Exception:  # noqa: BLE001
        return "?"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- filling the database (runs in a subprocess with the site's environment) ----------------------------


def seed(args):
    """Fill the database, measure each URL's query count and time in-process, print one JSON line."""
    import random

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from portal.monitoring.models import Observation, Status
    from portal.registry import services
    from portal.registry.models import Deployment, Environment, Project, Release
    from verifier import dsse, statement
    from verifier.digest import sha256_bytes
    from verifier.keys import generate_private_key
    from verifier.reasons import Reason, Result

    rng = random.Random(20240601)
    OBSERVED_REASON = {  # noqa: N806
        Result.VERIFIED.value: "",
        Result.MISMATCH.value: Reason.WRONG_RELEASE.value,
        Result.UNVERIFIABLE.value: Reason.UNREACHABLE.value,
    }
    now = timezone.now()
    releases_per_project = 3
    with transaction.atomic():
        projects = Project.objects.bulk_create(
            Project(
                slug=f"service-{n:03d}",
                name=f"Service {n:03d}",
                description="A public service watched by Vitrina.",
                repo_url=f"https://git.example.org/city/service-{n:03d}.git",
                created_at=now - timedelta(days=200),
            )
            for n in range(1, args.projects + 1)
        )
        projects = list(Project.objects.order_by("slug"))
        Environment.objects.bulk_create(
            Environment(
                project=project,
                name=name,
                live_url=f"https://{name}.{project.slug}.example.org/.well-known/vitrina/deployment",
                created_at=now - timedelta(days=200),
            )
            for project in projects
            for name in ENVIRONMENT_NAMES[: args.environments]
        )
        environments = list(Environment.objects.select_related("project").order_by("project__slug", "name"))
        by_project = {}
        for environment in environments:
            by_project.setdefault(environment.project_id, []).append(environment)

        release_count = deployment_count = 0
        latest_release = {}
        for project in projects:
            private_key = generate_private_key("ed25519")
            services.add_signing_key(project, private_key.public_key.pem, label="CI")
            releases = []
            for r in range(releases_per_project):
                version = f"1.{r}.0"
                artifact = f"{project.slug}-{version}".encode()
                doc = statement.build_statement(
                    artifact_name=f"{project.slug}.tar.gz",
                    artifact_digest=sha256_bytes(artifact),
                    repo_uri=project.repo_url,
                    commit=f"{rng.getrandbits(160):040x}",
                    ci_build_url=f"https://ci.example.org/{project.slug}/runs/{r + 1}",
                )
                envelope = dsse.sign_envelope(statement.statement_to_payload(doc), private_key)
                release, _ = services.register_release(project, envelope, version=version)
                releases.append(release)
                release_count += 1
            # Each environment got the releases in turn; the newest environments lag one release behind.
            for e, environment in enumerate(by_project[project.pk]):
                shipped = releases if e == 0 else releases[:-1]
                for d, release in enumerate(shipped):
                    services.record_deployment(
                        environment,
                        release,
                        deployed_at=now - timedelta(days=30 * (len(shipped) - d), minutes=e),
                        pipeline_run_url=f"https://ci.example.org/{project.slug}/deploys/{d + 1}",
                    )
                    deployment_count += 1
                latest_release[environment.pk] = shipped[-1]

        # Current statuses: mostly green, some red of both kinds, some never checked (no row at all).
        mix = (
            [(Result.VERIFIED.value, "")] * 14
            + [(Result.MISMATCH.value, Reason.WRONG_RELEASE.value)] * 2
            + [(Result.UNVERIFIABLE.value, Reason.UNREACHABLE.value)] * 2
            + [(Result.UNCHECKED.value, "")] * 1
            + [(None, "")] * 1
        )
        statuses = []
        shown = {}
        for environment in environments:
            result, reason = rng.choice(mix)
            shown[environment.pk] = result
            if result is None:
                continue
            release = latest_release[environment.pk]
            checked = result != Result.UNCHECKED.value
            statuses.append(
                Status(
                    environment=environment,
                    result=result,
                    reason=reason,
                    message="" if result == Result.VERIFIED.value else "Bench status.",
                    checked_at=now - timedelta(seconds=rng.randint(5, 60)) if checked else None,
                    changed_at=now - timedelta(hours=rng.randint(1, 48)) if checked else None,
                    live_digest=release.artifact_digest if checked else "",
                    expected_digest=release.artifact_digest if checked else "",
                    live_release=release if result == Result.VERIFIED.value else None,
                )
            )
        Status.objects.bulk_create(statuses)

        # History: a check every --check-minutes for --history-days per environment, mostly green, with
        # red (wrong release) and amber (unreachable) spells of a few checks; a check that changes the
        # result is a status change, as the recorder marks it. The newest check is the current status.
        step = timedelta(minutes=args.check_minutes)
        checks = max(1, args.history_days * 24 * 60 // args.check_minutes)
        spell_chance = args.check_minutes / (20 * 24 * 60)  # about one spell every 20 days
        batch = []
        observation_count = 0
        for environment in environments:
            release = latest_release[environment.pk]
            current = shown[environment.pk]
            previous = None
            spell, spell_left = Result.VERIFIED.value, 0
            for age in range(checks - 1, -1, -1):
                if spell_left == 0 and rng.random() < spell_chance:
                    spell = rng.choice([Result.MISMATCH.value, Result.UNVERIFIABLE.value])
                    spell_left = rng.randint(1, 8)
                result = spell if spell_left else Result.VERIFIED.value
                spell_left = max(0, spell_left - 1)
                if age == 0 and current not in (None, Result.UNCHECKED.value):
                    result = current
                batch.append(
                    Observation(
                        environment=environment,
                        checked_at=now - age * step - timedelta(seconds=rng.randint(0, 59)),
                        result=result,
                        reason=OBSERVED_REASON[result],
                        live_digest=release.artifact_digest,
                        expected_digest=release.artifact_digest,
                        expected_release=release,
                        live_release=release,
                        http_status=200,
                        duration_ms=rng.randint(20, 400),
                        changed_status=result != previous,
                    )
                )
                previous = result
                if len(batch) >= 20_000:
                    Observation.objects.bulk_create(batch, batch_size=5000)
                    observation_count += len(batch)
                    batch = []
        Observation.objects.bulk_create(batch, batch_size=5000)
        observation_count += len(batch)

    call_command("integratelog", verbosity=0)
    call_command("auditlog", verbosity=0)

    # Pick a project with a green production environment to show, like a README badge would.
    green = Status.objects.filter(result=Result.VERIFIED.value, checked_at__isnull=False)
    chosen = green.select_related("environment__project").order_by("environment__project__slug").first()
    project_slug = chosen.environment.project.slug if chosen else projects[0].slug
    environment_name = chosen.environment.name if chosen else environments[0].name

    release = Release.objects.filter(project__slug=project_slug).order_by("-registered_at", "-id").first()
    deployment = Deployment.objects.filter(release=release).order_by("-deployed_at", "-id").first()
    pages = [
        ("home", "/"),
        ("project page", f"/p/{project_slug}/"),
        ("environment", f"/p/{project_slug}/{environment_name}/"),
        ("release page", f"/p/{project_slug}/releases/{release.version}/"),
        ("deployment", f"/deployments/{deployment.pk}/"),
        ("log", "/log/"),
        ("verify", "/verify/"),
        ("badge", f"/badge/{project_slug}/{environment_name}.svg"),
        ("feed", "/feeds/status.atom"),
    ]
    pages = [(label, path) for label, path in pages if answers(path)]
    cost = measure_cost([path for _, path in pages])
    if connection.vendor == "sqlite":
        engine = ("SQLite", connection.Database.sqlite_version)
    else:
        version = connection.pg_version
        engine = (connection.display_name, f"{version // 10000}.{version % 10000}")
    from portal.transparency.models import LogEntry

    print(
        json.dumps(
            {
                "pages": pages,
                "database": engine,
                "cost": cost,
                "counts": (
                    f"{len(projects)} projects, {len(environments)} environments, {release_count} releases, "
                    f"{deployment_count} deployments, {LogEntry.objects.count()} log entries, "
                    f"{observation_count:,} observations ({args.history_days} days, one check every "
                    f"{args.check_minutes} min per environment)"
                ),
            }
        )
    )


def answers(path):
    """Whether ``path`` answers 200 here (a page a later version of the portal may not have)."""
    from django.test import Client

    return Client(HTTP_HOST="127.0.0.1").get(path).status_code == 200


def measure_cost(paths, repeat=20):
    """Per path: SQL queries, and median CPU ms per request with the caches warm (the kept page, as most
    readers meet it) and just emptied (the shared fragments and the kept pages: what one reader pays
    every few seconds), with the wall-clock ms of the latter, one request at a time through the Django
    test client."""
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from portal.web import page_cache

    def empty_caches():
        """Both caches a page goes through: the shared fragments and the kept pages."""
        cache.clear()
        page_cache.clear()

    client = Client(HTTP_HOST="127.0.0.1")
    cost = {}
    for path in paths:
        client.get(path)  # compile templates, open the connection
        empty_caches()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}")
        count = len(queries)  # now: the next request resets the connection's query log
        cold_cpu, cold_wall, warm_cpu = [], [], []
        for _ in range(repeat):
            empty_caches()
            c0, t0 = time.process_time(), time.perf_counter()
            client.get(path)
            cold_cpu.append((time.process_time() - c0) * 1000)
            cold_wall.append((time.perf_counter() - t0) * 1000)
        for _ in range(repeat * 5):
            c0 = time.process_time()
            client.get(path)
            warm_cpu.append((time.process_time() - c0) * 1000)
        cost[path] = {
            "queries": count,
            "cpu_ms": statistics.median(warm_cpu),
            "cold_cpu_ms": statistics.median(cold_cpu),
            "cold_ms": statistics.median(cold_wall),
        }
    return cost


if __name__ == "__main__":
    main()
