"""Announcing status changes on the channels operators configure: signed webhooks and email.

Each announcement to each channel is a Celery task (``deliver_notification``) that makes one attempt,
writes a ``Delivery`` row and, on failure, is retried with exponential backoff. Outgoing webhook requests
obey the rules of live checks: the destination's addresses are checked before connecting (no cloud
metadata, no private networks unless ``VITRINA_ALLOW_PRIVATE_ADDRESSES``), redirects are not followed,
and the whole exchange is capped in time and in the bytes read back.
"""

import http.client
import json
import logging
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from portal.transparency.services import entry_for
from verifier.live import address_problem

from .models import Delivery, NotificationChannel, Observation

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = 10.0
MAX_RESPONSE_BYTES = 4096
# Retries after 30 s, 1 min, 2 min, ... capped at one hour: about 10 hours in all before giving up.
RETRY_BASE_SECONDS = 30
RETRY_CAP_SECONDS = 3600
MAX_RETRIES = 15


class DeliveryFailed(Exception):
    """The receiver could not be reached or did not accept the announcement; the message says why."""

    def __init__(self, message, status_code=None):
        super().__init__(message)
        self.status_code = status_code


def backoff(retries):
    """Seconds to wait before retry number ``retries + 1``."""
    return min(RETRY_BASE_SECONDS * 2**retries, RETRY_CAP_SECONDS)


def announce(observation_id):
    """Queue one delivery per enabled channel of the observation's project (or of every project).

    Called once the status change is committed. If the broker is down the announcement is dropped and
    logged; the change itself is in the database and the log whatever happens here.
    """
    from kombu.exceptions import OperationalError

    from .tasks import deliver_notification

    observation = Observation.objects.select_related("environment").filter(pk=observation_id).first()
    if observation is None:
        return
    for channel_id in NotificationChannel.for_project(observation.environment.project_id).values_list(
        "pk", flat=True
    ):
        try:
            deliver_notification.delay(channel_id, observation_id)
        except OperationalError as exc:
            logger.warning(
                "Could not queue notification of observation %s on channel %s: %s",
                observation_id,
                channel_id,
                exc,
            )


def payload(observation):
    """The JSON document sent to webhooks (and summarised in emails)."""
    environment = observation.environment
    previous = (
        Observation.objects.filter(
            environment=environment, changed_status=True, checked_at__lt=observation.checked_at
        )
        .exclude(pk=observation.pk)
        .first()
    )
    entry = entry_for("status", observation.pk)
    status = {
        key: value for key, value in observation.as_api().items() if key not in ("ahead_by", "duration_ms")
    }
    return {
        "event": "status_changed",
        "project": environment.project.slug,
        "environment": environment.name,
        "url": settings.SITE_URL + environment.get_absolute_url(),
        "status": status,
        "previous": {"light": previous.light, "result": previous.result, "reason": previous.reason or None}
        if previous
        else None,
        "observation_id": observation.pk,
        "log_index": entry.index if entry else None,
    }


def deliver(channel, observation, attempt):
    """Make one attempt at announcing ``observation`` on ``channel``; return the ``Delivery`` written."""
    started = time.monotonic()
    status_code = None
    error = ""
    try:
        if channel.kind == NotificationChannel.Kind.WEBHOOK:
            status_code = send_webhook(channel, observation)
        else:
            send_email(channel, observation)
    except DeliveryFailed as exc:
        error = str(exc)
        status_code = exc.status_code
    return Delivery.objects.create(
        channel=channel,
        observation=observation,
        attempt=attempt,
        succeeded=not error,
        status_code=status_code,
        error=error,
        duration_ms=round((time.monotonic() - started) * 1000),
    )


def send_webhook(channel, observation):
    """POST the signed payload; return the receiver's status code, or raise ``DeliveryFailed``."""
    body = json.dumps(payload(observation), separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Vitrina-webhook/1",
        "X-Vitrina-Event": "status_changed",
        "X-Vitrina-Signature": channel.sign(body),
    }
    status_code = post(channel.url, body, headers, allow_private=settings.VITRINA_ALLOW_PRIVATE_ADDRESSES)
    if not 200 <= status_code < 300:
        raise DeliveryFailed(f"{channel.url} answered HTTP {status_code}.", status_code)
    return status_code


def send_email(channel, observation):
    data = payload(observation)
    environment = observation.environment
    light = data["status"]["light"].upper()
    subject = f"[Vitrina] {environment}: {light} ({observation.reason or observation.result})"
    text = (
        f"The status of {environment} changed to {light}: {observation.result}"
        f"{' (' + observation.reason + ')' if observation.reason else ''}.\n\n"
        f"{observation.message}\n\n"
        f"Checked at: {data['status']['checked_at']}\n"
        f"Live digest: {observation.live_digest or '-'}\n"
        f"Expected digest: {observation.expected_digest or '-'}\n"
        f"Transparency log entry: {data['log_index']}\n\n"
        f"{data['url']}\n"
    )
    try:
        connection = get_connection(timeout=WEBHOOK_TIMEOUT)
        EmailMessage(
            subject, text, settings.DEFAULT_FROM_EMAIL, [channel.email], connection=connection
        ).send()
    except (OSError, ValueError) as exc:
        raise DeliveryFailed(f"Could not send mail to {channel.email}: {exc}.") from None


def post(
    url, body, headers, *, allow_private, timeout=WEBHOOK_TIMEOUT, max_response_bytes=MAX_RESPONSE_BYTES
):
    """POST ``body`` to ``url`` without following redirects; return the HTTP status code.

    The host's addresses are all checked before connecting, and the connection goes to a checked
    address, never to the name again. A timer shuts the socket at ``timeout``, so no receiver can hold
    the worker longer, however slowly it answers.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryFailed(f"Refused to post to {url!r}: only http and https URLs with a host are allowed.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (ValueError, OSError) as exc:
        raise DeliveryFailed(f"Could not resolve {parts.hostname}: {exc}.") from None
    for address in addresses:
        problem = address_problem(address[4][0], allow_private=allow_private)
        if problem:
            raise DeliveryFailed(f"Refused to post to {url}: {parts.hostname} is {problem}.")
    try:
        sock = socket.create_connection(addresses[0][4][:2], timeout=timeout)
    except OSError as exc:
        raise DeliveryFailed(f"Could not connect to {parts.hostname}: {exc}.") from None
    expired = threading.Event()
    deadline = threading.Timer(timeout, _expire, args=(sock, expired))
    deadline.start()
    try:
        if parts.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        conn = http.client.HTTPConnection(parts.hostname, port)
        conn.sock = sock
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", target, body=body, headers={**headers, "Connection": "close"})
        response = conn.getresponse()
        response.read(max_response_bytes)
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            raise DeliveryFailed(f"{url} did not answer within {timeout:g} s.") from None
        raise DeliveryFailed(f"Posting to {url} failed: {exc!r}.") from None
    finally:
        deadline.cancel()
        sock.close()


def _expire(sock, expired):
    expired.set()
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
