"""Benchmark: the operators' admin pages with a big dataset, timed as a logged-in superuser sees them.

Builds a throw-away portal (SQLite in a temporary directory, or the PostgreSQL database named by
``--database-url``, flushed first) holding ``--projects`` projects of ``--environments`` environments
each, a signing key, a release and a deployment per environment, a status per environment and
``--observations`` checks spread over a year (bulk-inserted: the admin reads them, it does not need
them logged). Then, with Django's test client logged in as a superuser, each admin list and one change
form of each model are requested ``--runs`` times after a warm-up; the median time and the number of
SQL queries of each are reported. The goal is every admin page under 300 ms.

    .venv/bin/python benchmarks/admin.py [--projects 100] [--environments 3] [--observations 500000]

Prints the figures and writes them to benchmarks/results/admin.txt.
"""

import os
import statistics
import time
from datetime import timedelta

from _portal import benchmark_arguments, report, setup_portal

GOAL_MS = 300


def build(projects, environments, observations):
    from django.utils import timezone

    from portal.monitoring.models import Observation, Status
    from portal.registry.models import ApiToken
    from tests.portal import factories

    now = timezone.now()
    envs = []
    for p in range(projects):
        project = factories.make_project(f"project-{p:03d}", name=f"Project {p:03d}")
        private_key, _key = factories.make_key(project)
        release = factories.make_release(project, private_key, "1.0.0")
        ApiToken.issue(project, "ci")
        for name in ["production", "staging", "preview", "demo", "qa"][:environments]:
            environment = factories.make_environment(project, name)
            factories.make_deployment(environment, release)
            Status.objects.create(environment=environment, result="verified", checked_at=now)
            envs.append(environment)
    step = timedelta(days=365) / max(observations // len(envs), 1)
    batch = []
    for i in range(observations):
        environment = envs[i % len(envs)]
        result = "mismatch" if i % 97 == 0 else "verified"
        batch.append(
            Observation(
                environment=environment,
                checked_at=now - step * (i // len(envs)),
                result=result,
                reason="unregistered_artifact" if result == "mismatch" else "",
                changed_status=result == "mismatch",
                duration_ms=i % 500,
            )
        )
        if len(batch) == 10_000:
            Observation.objects.bulk_create(batch)
            batch = []
    Observation.objects.bulk_create(batch)


def pages():
    from portal.monitoring.models import Observation
    from portal.registry.models import ApiToken, Deployment, Environment, Project, Release, SigningKey

    listed = [
        "registry/project",
        "registry/environment",
        "registry/signingkey",
        "registry/apitoken",
        "registry/release",
        "registry/deployment",
        "monitoring/observation",
        "monitoring/status",
        "monitoring/notificationchannel",
        "monitoring/delivery",
    ]
    urls = {"admin index": "/admin/"}
    urls.update({f"list {name}": f"/admin/{name}/" for name in listed})
    urls["list monitoring/observation, filtered"] = "/admin/monitoring/observation/?result__exact=mismatch"
    urls["list monitoring/observation, page 50"] = "/admin/monitoring/observation/?p=50"
    for model in (Project, Environment, SigningKey, ApiToken, Release, Deployment, Observation):
        obj = model.objects.order_by("pk").last()
        urls[f"form {model._meta.label_lower}"] = (
            f"/admin/{model._meta.app_label}/{model._meta.model_name}/{obj.pk}/change/"
        )
    urls["form monitoring.status"] = f"/admin/monitoring/status/{Environment.objects.last().pk}/change/"
    return urls


def time_pages(runs):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    user = get_user_model().objects.create_superuser("bench", "bench@example.org", "x")
    client = Client(HTTP_ACCEPT_LANGUAGE="es", HTTP_HOST="127.0.0.1")
    client.force_login(user)
    rows = []
    for name, url in pages().items():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        queries = []

        def count(execute, sql, *rest, queries=queries):
            queries.append(sql)
            return execute(sql, *rest)

        with connection.execute_wrapper(count):
            client.get(url)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - start) * 1000)
        rows.append((name, statistics.median(times), len(queries)))
    return rows


def main():
    parser = benchmark_arguments(__doc__)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--environments", type=int, default=3)
    parser.add_argument("--observations", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    setup_portal("vitrina-bench-admin-", args.database_url)
    from django.db import connection

    start = time.perf_counter()
    build(args.projects, args.environments, args.observations)
    built = time.perf_counter() - start
    rows = time_pages(args.runs)
    lines = [
        f"Admin pages, {connection.vendor}: {args.projects} projects x {args.environments} environments, "
        f"{args.observations} observations (built in {built:.0f} s); median of {args.runs} runs, "
        f"superuser, Spanish.",
        f"{'page':48} {'median ms':>10} {'queries':>8}",
    ]
    lines += [f"{name:48} {ms:10.1f} {queries:8d}" for name, ms, queries in rows]
    slow = [name for name, ms, _queries in rows if ms >= GOAL_MS]
    lines.append(
        f"goal: every page under {GOAL_MS} ms: {'met' if not slow else 'NOT met: ' + ', '.join(slow)}"
    )
    report(lines, "admin")


if __name__ == "__main__":
    main()
