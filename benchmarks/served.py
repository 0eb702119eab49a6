"""Benchmark: the served-files check, one Celery worker checking 100 sites of 50 files each per round.

The issue "Beyond the self-report" asks whether one worker checks 100 sites of 50 files each within a
60 s interval. Sets up a throw-away database (SQLite in a temporary directory, or the PostgreSQL database
named by ``--database-url``) with one project, a real git repository and, per site, a signed and logged
release whose statement lists exactly the files that site serves (and declares its one inline script),
deployed to that site's environment. Then, round after round, makes every environment due, runs the
dispatcher, and times until the worker (one process, ``--pool`` / ``--concurrency``) has written an
observation for each. Every check is a full one: the live endpoint, the registry, the signature, the log
entries, the repository, and the site: its entry page and every script and style sheet it loads, fetched
and hashed, compared with the release's signed list. Every check must be green, served files included.

The sites are real HTTP servers on 127.0.0.1: ``--site-servers`` ``ThreadingHTTPServer`` s
(``tests.helpers.site.SiteServer``), each hosting its share of the sites under a path prefix
(``/site-7/``), each site with its own deployment endpoint beside its files. A few servers rather than one
per site: the sites' content and paths differ as real sites' do (so no digest is shared between
checks), without 100 listening threads in the benchmark process competing with the worker for the CPU.
The servers run in this process, so their CPU is measured apart from the worker's. ``--latency`` makes
each answer wait that many milliseconds first, as a distant site's round trips would (the check opens a
connection per file, so a file costs at least one such wait).

    .venv/bin/python benchmarks/served.py [--sites 100] [--files 50] [--rounds 3] [--concurrency 24]
                                          [--latency 0]

Prints the figures (median of the rounds) and writes them to benchmarks/results/served.txt.
"""

import hashlib
import json
import os
import random
import resource
import statistics
import time
from collections import Counter

from _portal import benchmark_arguments, report, setup_portal
from checks import session_cpu_seconds

INTERVAL = 60  # seconds: the check interval the issue asks the sites to fit in
STYLE_SHARE = 0.3  # of a site's files, style sheets; the rest scripts


def site_files(number, files, rng):
    """One site's entry page and the ``files`` scripts and style sheets it loads, a few KB each, under
    ``/site-<number>/``; returns ``(files dict for SiteServer, the inline script's sha256 hex)``."""
    from tests.helpers.site import css, js, page

    prefix = f"/site-{number}/"
    styles = round(files * STYLE_SHARE)
    served = {}
    tags = []
    for n in range(files):
        tag = hashlib.sha256(f"{number}-{n}".encode()).hexdigest()[:8]
        if n < styles:
            path = f"{prefix}static/css/part-{n}.{tag}.css"
            served[path] = css(_style_sheet(rng, number, n))
            tags.append(f'<link rel="stylesheet" href="{path}">')
        else:
            path = f"{prefix}static/js/chunk-{n}.{tag}.js"
            served[path] = js(_script(rng, number, n))
            tags.append(f'<script defer src="{path}"></script>')
    inline = f"window.__SITE__ = {number}; document.documentElement.className = 'js';"
    served[prefix] = page(
        f'<!doctype html><html lang="es"><head><meta charset="utf-8"><title>Sitio {number}</title>'
        + "".join(tags)
        + f"<script>{inline}</script></head><body><main><h1>Sitio {number}</h1>"
        + "<p>Contenido.</p>" * 40
        + "</main></body></html>"
    )
    return served, hashlib.sha256(inline.encode()).hexdigest()


def _script(rng, site, n):
    """A few KB of minified-looking JavaScript, different for every site and file."""
    body = [f"/*! site {site} chunk {n} */"]
    for f in range(rng.randint(20, 120)):
        name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))
        body.append(
            f"function {name}{f}(e,t){{var n=e.querySelector('[data-{name}]');"
            f"return n?n.getAttribute('data-{name}')+t*{rng.randint(1, 999)}:null}}"
        )
    return "".join(body).encode()


def _style_sheet(rng, site, n):
    """A few KB of CSS, different for every site and file."""
    rules = [f"/* site {site} part {n} */"]
    for r in range(rng.randint(30, 150)):
        rules.append(
            f".c{site}-{n}-{r}{{margin:{rng.randint(0, 32)}px;color:#{rng.randrange(16**6):06x};"
            f"font-size:{rng.randint(10, 24)}px}}"
        )
    return "\n".join(rules).encode()


def distant_site_server(latency):
    """A ``SiteServer`` whose every answer waits ``latency`` seconds first (in its own handler thread)."""
    from tests.helpers.site import SiteServer

    class DistantSiteServer(SiteServer):
        def respond(self, handler):
            self.stopping.wait(latency)
            super().respond(handler)

    return DistantSiteServer({})


def own_cpu_seconds():
    """User + system CPU of this process: the site servers' threads (and a polling main thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = benchmark_arguments(__doc__, redis_db=9)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--pool", default="threads")
    parser.add_argument("--site-servers", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0, help="milliseconds before each answer")
    args = parser.parse_args()

    work = setup_portal(
        "vitrina-bench-served-",
        args.database_url,
        redis_url=args.redis_url,
        settings_module="tests.portal.monitoring.worker_settings",
    )
    import redis
    from django.db import connection
    from django.utils import timezone

    from portal.monitoring import dispatch
    from portal.monitoring.models import Observation
    from portal.registry.models import Environment
    from tests.helpers import liveserver
    from tests.helpers.gitserver import make_repo
    from tests.helpers.liveserver import ENDPOINT_PATH
    from tests.helpers.site import served_list
    from tests.portal import factories
    from tests.portal.monitoring.celerystack import CeleryStack, wait_for

    redis.Redis.from_url(args.redis_url).flushdb()

    repo = work / "app.git"
    commit = make_repo(repo, commits=3)[-1]
    project = factories.make_project(slug="bench", repo_url=repo.as_uri())
    private_key, _ = factories.make_key(project)
    # The standard library's listen backlog of 5 would drop connections under this load; a real
    # site's accept queue is far longer.
    liveserver._Server.request_queue_size = 1024
    servers = [distant_site_server(args.latency / 1000) for _ in range(args.site_servers)]
    rng = random.Random(20261202)
    far = timezone.now() + timezone.timedelta(days=1)
    served_bytes = 0
    for number in range(args.sites):
        files, inline = site_files(number, args.files, rng)
        listed = served_list(files)
        assert len(listed) == args.files
        served_bytes += sum(len(body) for path, (_, body) in files.items() if path != f"/site-{number}/")
        release = factories.make_release(
            project, private_key, f"1.0.{number}", commit=commit, served_files=listed, inline_scripts=[inline]
        )
        server = servers[number % len(servers)]
        endpoint = f"/site-{number}{ENDPOINT_PATH}"
        answer = json.dumps({"artifact_digest": release.artifact_digest}).encode()
        files[endpoint] = ("application/json", answer)
        server.files.update(files)
        environment = Environment.objects.create(
            project=project,
            name=f"site-{number}",
            live_url=server.base_url + endpoint,
            site_url=f"{server.base_url}/site-{number}/",
            entry_pages=f"/site-{number}/",
            next_check_at=far,
        )
        factories.make_deployment(environment, release)
    Environment.objects.update(next_check_at=far)
    for server in servers:
        server.start()

    # The portal's own timeouts, not the e2e tests' short ones.
    stack = CeleryStack(
        args.redis_url, work / "celery", concurrency=args.concurrency, live_timeout=10, served_timeout=30
    )
    total_files = args.sites * args.files
    rounds = []
    try:
        worker = stack.start_worker(pool=args.pool)

        def run_round():
            before = Observation.objects.count()
            Environment.objects.update(next_check_at=timezone.now())
            cpu_before, own_before = session_cpu_seconds(worker.pid), own_cpu_seconds()
            started = time.monotonic()
            dispatch.dispatch_due()
            wait_for(
                lambda: Observation.objects.count() >= before + args.sites,
                600,
                interval=0.02,
                message="every site checked",
            )
            wall = time.monotonic() - started
            newest = Observation.objects.order_by("-id")[: args.sites]
            return {
                "wall": wall,
                "worker_cpu": session_cpu_seconds(worker.pid) - cpu_before,
                "servers_cpu": own_cpu_seconds() - own_before,
                "check_ms": statistics.median(newest.values_list("duration_ms", flat=True)),
            }

        run_round()  # warm-up: worker start, repository mirror, connections
        load_before = os.getloadavg()
        rounds = [run_round() for _ in range(args.rounds)]
        load_after = os.getloadavg()
        observations = list(Observation.objects.values_list("result", "reason", "layers"))
    finally:
        stack.stop()
        for server in servers:
            server.stop()

    outcomes = Counter((result, reason) for result, reason, _ in observations)
    assert set(outcomes) == {("verified", "")}, f"not every check was green: {outcomes}"
    layers = Counter(
        (layer["served_files"]["reason"], layer["served_files"]["matched"]) for _, _, layer in observations
    )
    assert set(layers) == {("served_files_verified", args.files)}, f"not every site's files matched: {layers}"

    def median(key):
        return statistics.median(r[key] for r in rounds)

    def each(key, template):
        return ", ".join(template.format(r[key]) for r in rounds)

    for r in rounds:
        r["files_per_s"] = total_files / r["wall"]
    wall, worker_cpu, servers_cpu = median("wall"), median("worker_cpu"), median("servers_cpu")
    lines = [
        f"served-files checks, one worker ({args.pool}, concurrency {args.concurrency}), "
        f"{os.cpu_count()} CPUs, {connection.vendor}",
        f"sites: {args.sites} x {args.files} files (scripts and style sheets, "
        f"{served_bytes / total_files / 1024:.1f} KiB on average) + 1 entry page + 1 live endpoint each; "
        f"{args.site_servers} site servers on loopback in the benchmark process, {args.latency:g} ms before "
        f"each answer; rounds: {args.rounds}",
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; 1-min load average before / after the "
        f"rounds: {load_before[0]:.2f} / {load_after[0]:.2f}",
        f"every check green, served files included: {len(observations)} observations (warm-up round too)",
        f"median wall time for all {args.sites} checks: {wall:.2f} s (rounds: {each('wall', '{:.2f} s')}); "
        f"fits a {INTERVAL} s interval: {'yes' if wall <= INTERVAL else 'NO'} ({wall / INTERVAL:.0%} of it)",
        f"median files/s: {median('files_per_s'):.0f} (rounds: {each('files_per_s', '{:.0f}')})",
        f"median worker CPU per round (worker process and its pool, all cores): {worker_cpu:.2f} s, "
        f"{worker_cpu * 1000 / total_files:.2f} ms per file, "
        f"{worker_cpu * 1000 / args.sites:.0f} ms per site "
        f"(rounds: {each('worker_cpu', '{:.2f} s')})",
        f"median site servers' CPU per round (benchmark process): {servers_cpu:.2f} s, "
        f"{servers_cpu * 1000 / total_files:.2f} ms per file (rounds: {each('servers_cpu', '{:.2f} s')})",
        f"median of one check's duration (live endpoint + site, then examination and record): "
        f"{median('check_ms'):.0f} ms (rounds: {each('check_ms', '{:.0f} ms')})",
    ]
    report(lines, "served")


if __name__ == "__main__":
    main()
