"""Operations endpoints: ``/metrics`` for Prometheus and ``/healthz`` for load balancers and uptime checks.

Both read the database (and the broker) at request time, so any number of gunicorn and Celery
processes report the same numbers without shared in-process state. Neither says anything secret:
counts, ages and "ok"/"error", never a URL, a host name or an exception text. A broker that is down
is reported as such; it never turns these endpoints into a server error.

Check latency is a Prometheus histogram computed from ``Observation.duration_ms`` over every stored
observation (one aggregate query): its buckets only grow, so ``rate()`` and ``histogram_quantile()``
work over any window in PromQL. Worker liveness comes from the age of the newest observation
compared with the shortest check interval rather than from a Celery ping: it needs no broker round
trip, cannot stall a web process, and proves that checks are actually being written, not merely that
some worker answers.
"""

import logging
import os
import time
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Min, Q, Sum
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from portal.monitoring.models import LIGHTS, Observation, Status, public_state
from portal.registry.models import Environment
from portal.transparency.models import Checkpoint, LogEntry, PendingEntry
from verifier.reasons import Result

logger = logging.getLogger(__name__)

BROKER_TIMEOUT = 1.0
LATENCY_BUCKETS_MS = (50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)


class BrokerDown(Exception):
    """The broker did not answer within ``BROKER_TIMEOUT``."""


def broker_queue_depth():
    """Messages waiting in the default Celery queue: ``LLEN`` on Redis, queued files on the filesystem."""
    url = settings.CELERY_BROKER_URL
    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    if urlsplit(url).scheme in ("redis", "rediss"):
        client = redis.Redis.from_url(
            url, socket_timeout=BROKER_TIMEOUT, socket_connect_timeout=BROKER_TIMEOUT
        )
        try:
            return client.llen(queue)
        except redis.RedisError as exc:
            raise BrokerDown(type(exc).__name__) from exc
        finally:
            client.close()
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", "")
    try:
        with os.scandir(folder) as entries:
            return sum(1 for entry in entries if entry.is_file())
    except OSError as exc:
        raise BrokerDown(type(exc).__name__) from exc


class VitrinaCollector:
    """Reads the database at scrape time; registered in a registry of its own (see ``metrics``)."""

    def collect(self):
        yield from self.checks()
        yield self.environments()
        yield from self.broker()
        yield from self.log()

    def checks(self):
        buckets = {
            f"le_{bound}": Count("id", filter=Q(duration_ms__lte=bound)) for bound in LATENCY_BUCKETS_MS
        }
        rows = Observation.objects.values("result").annotate(
            total=Count("id"), ms=Sum("duration_ms"), **buckets
        )
        checks = CounterMetricFamily(
            "vitrina_checks", "Checks run, by result (stored observations).", labels=["result"]
        )
        totals = dict.fromkeys((r.value for r in Result if r != Result.UNCHECKED), 0)
        cumulative = dict.fromkeys(LATENCY_BUCKETS_MS, 0)
        total_ms = 0
        for row in rows:
            totals[row["result"]] = row["total"]
            total_ms += row["ms"] or 0
            for bound in LATENCY_BUCKETS_MS:
                cumulative[bound] += row[f"le_{bound}"]
        for result, count in totals.items():
            checks.add_metric([result], count)
        yield checks
        latency = HistogramMetricFamily(
            "vitrina_check_duration_seconds",
            "Time a check took (live endpoint and repository), all stored checks.",
        )
        count = sum(totals.values())
        latency.add_metric(
            [],
            [(str(bound / 1000), cumulative[bound]) for bound in LATENCY_BUCKETS_MS] + [("+Inf", count)],
            sum_value=total_ms / 1000,
        )
        yield latency

    def environments(self):
        gauge = GaugeMetricFamily(
            "vitrina_environments", "Environments by current light and result.", labels=["light", "result"]
        )
        counts = dict.fromkeys(LIGHTS.items(), 0)
        rows = Environment.objects.values_list("status__result", "status__checked_at")
        for result, checked_at in rows.iterator():
            state = public_state(Status(result=result, checked_at=checked_at))
            counts[state.result, state.light] += 1
        for (result, light), count in counts.items():
            gauge.add_metric([light, result], count)
        return gauge

    def broker(self):
        up = GaugeMetricFamily("vitrina_broker_up", "1 when the Celery broker answered this scrape.")
        try:
            depth = broker_queue_depth()
        except BrokerDown:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("vitrina_queue_depth", "Tasks waiting in the Celery queue.", value=depth)

    def log(self):
        last = LogEntry.objects.aggregate(last=Max("index"))["last"]
        pending = PendingEntry.objects.count()
        yield GaugeMetricFamily(
            "vitrina_log_entries",
            "Entries appended to the transparency log, with those queued for their index.",
            value=(0 if last is None else last + 1) + pending,
        )
        yield GaugeMetricFamily(
            "vitrina_log_pending_entries",
            "Entries queued for their index (integrated about every second; a growing queue is a stuck log).",
            value=pending,
        )
        latest = Checkpoint.objects.order_by("-size").values_list("size", "created_at").first()
        if latest is None:
            return
        size, created_at = latest
        yield GaugeMetricFamily(
            "vitrina_log_tree_size", "Entries covered by the latest signed checkpoint.", value=size
        )
        yield GaugeMetricFamily(
            "vitrina_log_checkpoint_age_seconds",
            "Seconds since the latest checkpoint was signed.",
            value=(timezone.now() - created_at).total_seconds(),
        )


registry = CollectorRegistry(auto_describe=False)
registry.register(VitrinaCollector())


def metrics(request):
    response = HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


def database_ok():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure means "error"; the page must still answer
        logger.warning("healthz: database check failed: %s", type(exc).__name__)
        return False
    return True


def broker_ok():
    try:
        broker_queue_depth()
    except BrokerDown as exc:
        logger.warning("healthz: broker check failed: %s", exc)
        return False
    return True


def worker_state():
    """ "ok" if a check was written recently enough, "stale" if not, "unknown" before the first check.

    Recently enough: within twice the shortest check interval plus a minute of scheduling slack.
    """
    newest = Observation.objects.aggregate(newest=Max("checked_at"))["newest"]
    shortest = Environment.objects.aggregate(shortest=Min("check_interval"))["shortest"]
    if newest is None or shortest is None:
        return "unknown", None
    age = (timezone.now() - newest).total_seconds()
    return ("ok" if age <= 2 * shortest + 60 else "stale"), round(age)


def healthz(request):
    started = time.monotonic()
    database = database_ok()
    worker, age = worker_state() if database else ("unknown", None)
    document = {
        "database": "ok" if database else "error",
        "broker": "ok" if broker_ok() else "error",
        "worker": worker,
        "last_check_age_seconds": age,
        "took_ms": round((time.monotonic() - started) * 1000),
    }
    healthy = document["database"] == "ok" and document["broker"] == "ok"
    response = JsonResponse(document, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response
