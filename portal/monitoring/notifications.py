"""Announcing status changes on the channels operators configure (signed webhooks and email), and by
email to the members of the public who subscribed and confirmed their address (``Subscriber``).

A transactional outbox: the transaction that records a change also writes one pending ``Delivery`` per
matching channel (``announce``), so no change is committed without its announcements and none is
announced that was rolled back. Once committed, each delivery is queued as a Celery task to go out at
once; if the broker is down, the periodic sweep (``send_due``, run by beat) sends it instead, and
retries failures with exponential backoff. Whoever sends a delivery first claims it with a conditional
UPDATE, so it is never sent twice at once, and a delivery once sent is never sent again. Receivers can
still see a repeat if a worker dies between sending and recording the success; each request carries
the delivery's id (``X-Vitrina-Delivery``, and ``delivery_id`` in the signed body) to tell.

Outgoing webhook requests obey the rules of live checks: the destination's addresses are checked
before connecting (no cloud metadata, no private networks unless ``VITRINA_ALLOW_PRIVATE_ADDRESSES``),
redirects are not followed, and the whole exchange is capped in time and in the bytes read back.

A subscriber's emails are written in the language they subscribed in, with the light's words from
``reasons``, and carry a one-click unsubscribe link (RFC 8058 ``List-Unsubscribe``). Their address is
never written to a log or to a delivery's error.
"""

import http.client
import json
import logging
import re
import socket
import ssl
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from kombu.exceptions import OperationalError

from portal.celery import app
from portal.http import local_time
from portal.registry.words import environment_label
from portal.transparency.services import index_of
from verifier.live import address_problem

from .models import Delivery, NotificationChannel, Observation, Subscriber, public_state

logger = logging.getLogger(__name__)

# The task that sends one delivery, queued by name: ``tasks.py`` imports this module, never the reverse.
DELIVER_NOTIFICATION = "portal.monitoring.tasks.deliver_notification"
WEBHOOK_TIMEOUT = 10.0
MAX_RESPONSE_BYTES = 4096
# Retries after 30 s, 1 min, 2 min, ... capped at one hour: about 10 hours in all before giving up.
RETRY_BASE_SECONDS = 30
RETRY_CAP_SECONDS = 3600
MAX_RETRIES = 15
# How long a claim keeps other workers off a delivery: far longer than one attempt can take, so only a
# worker that died mid-send lets its claim run out, and the delivery is then sent again.
CLAIM_SECONDS = 300
SWEEP_BATCH = 100


class DeliveryFailed(Exception):
    """The receiver could not be reached or did not accept the announcement; the message says why."""

    def __init__(self, message, status_code=None):
        super().__init__(message)
        self.status_code = status_code


def backoff(retries):
    """Seconds to wait before retry number ``retries + 1``."""
    return min(RETRY_BASE_SECONDS * 2**retries, RETRY_CAP_SECONDS)


def announce(observation):
    """Write one pending delivery of ``observation`` per enabled channel and per confirmed subscriber of
    its project (or of every project), in the caller's transaction, and queue them to be sent once it
    commits.
    """
    project = observation.environment.project_id
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(channel=channel, observation=observation)
            for channel in NotificationChannel.for_project(project)
        ]
        + [
            Delivery(subscriber=subscriber, observation=observation)
            for subscriber in Subscriber.for_project(project)
        ]
    )
    delivery_ids = [delivery.pk for delivery in deliveries]
    if delivery_ids:
        transaction.on_commit(lambda: enqueue(delivery_ids))
    return deliveries


def enqueue(delivery_ids):
    """Queue the deliveries to be sent now. If the broker cannot take them, the sweep sends them."""
    for delivery_id in delivery_ids:
        try:
            app.tasks[DELIVER_NOTIFICATION].delay(delivery_id)
        except OperationalError as exc:
            logger.warning(
                "Could not queue delivery %s (%s); the periodic sweep will send it.", delivery_id, exc
            )


def send_due(now=None, limit=SWEEP_BATCH):
    """Send up to ``limit`` pending deliveries whose time has come; return how many were attempted."""
    now = now or timezone.now()
    due = (
        Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(send(delivery_id, now=now) is not None for delivery_id in list(due))


def send(delivery_id, now=None):
    """Claim the delivery if it is pending and due, and make one attempt; return it, or None if it was
    not due or someone else claimed it first.
    """
    now = now or timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, state=Delivery.State.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
    if not claimed:
        return None
    delivery = (
        Delivery.objects.select_related("channel", "subscriber", "observation__environment__project")
        .filter(pk=delivery_id)
        .first()
    )
    # Gone meanwhile: its subscriber unsubscribed, which deletes their deliveries.
    return delivery and attempt(delivery, now=now)


def attempt(delivery, now=None):
    """Make one attempt at a claimed delivery and record how it went: sent, due again after the
    backoff, or failed for good after ``MAX_RETRIES`` retries.
    """
    now = now or timezone.now()
    if delivery.channel and not delivery.channel.enabled:
        delivery.state = Delivery.State.FAILED
        delivery.error = "Not sent: the channel was disabled before this change could be announced on it."
        delivery.save(update_fields=["state", "error"])
        return delivery
    started = time.monotonic()
    delivery.status_code = None
    delivery.error = ""
    try:
        if delivery.subscriber:
            send_to_subscriber(delivery)
        elif delivery.channel.kind == NotificationChannel.Kind.WEBHOOK:
            delivery.status_code = send_webhook(delivery)
        else:
            send_email(delivery)
    except DeliveryFailed as exc:
        delivery.error = str(exc)
        delivery.status_code = exc.status_code
    delivery.duration_ms = round((time.monotonic() - started) * 1000)
    delivery.attempted_at = now
    delivery.attempts += 1
    if not delivery.error:
        delivery.state = Delivery.State.SENT
    elif delivery.attempts > MAX_RETRIES:
        delivery.state = Delivery.State.FAILED
    else:
        delivery.next_attempt_at = now + timedelta(seconds=backoff(delivery.attempts - 1))
    delivery.save(update_fields=Delivery.ATTEMPT_FIELDS)
    return delivery


def send_again(deliveries):
    """Give failed deliveries a fresh set of attempts, starting now; return how many."""
    return deliveries.filter(state=Delivery.State.FAILED).update(
        state=Delivery.State.PENDING, attempts=0, next_attempt_at=timezone.now()
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
    status = {
        key: value for key, value in observation.as_api().items() if key not in ("ahead_by", "duration_ms")
    }
    return {
        "event": "status_changed",
        "project": environment.project.slug,
        "environment": environment.name,
        "url": settings.SITE_URL + environment.get_absolute_url(),
        "status": status,
        "previous": previous_state(previous) if previous else None,
        "observation_id": observation.pk,
        "log_index": index_of("status", observation.pk),
    }


def previous_state(observation):
    """The public state before the change: what the light was, for a receiver that missed it."""
    state = public_state(observation)
    return {"light": state.light, "result": state.result, "reason": state.reason}


def send_webhook(delivery):
    """POST the signed payload; return the receiver's status code, or raise ``DeliveryFailed``."""
    channel = delivery.channel
    document = {**payload(delivery.observation), "delivery_id": delivery.pk}
    body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Vitrina-webhook/1",
        "X-Vitrina-Event": "status_changed",
        "X-Vitrina-Delivery": str(delivery.pk),
        "X-Vitrina-Signature": channel.sign(body),
    }
    status_code = post(channel.url, body, headers, allow_private=settings.VITRINA_ALLOW_PRIVATE_ADDRESSES)
    if not 200 <= status_code < 300:
        raise DeliveryFailed(f"{channel.url} answered HTTP {status_code}.", status_code)
    return status_code


def send_email(delivery):
    channel, observation = delivery.channel, delivery.observation
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
            subject,
            text,
            settings.DEFAULT_FROM_EMAIL,
            [channel.email],
            connection=connection,
            headers={"X-Vitrina-Delivery": str(delivery.pk)},
        ).send()
    except (OSError, ValueError) as exc:
        raise DeliveryFailed(f"Could not send mail to {channel.email}: {exc}.") from None


def send_to_subscriber(delivery):
    """Email the change to a subscriber, in their language, with a one-click unsubscribe link."""
    subscriber, observation = delivery.subscriber, delivery.observation
    environment = observation.environment
    with translation.override(subscriber.language):
        context = {
            "project": environment.project,
            "environment": environment,
            "environment_name": environment_label(environment.name),
            "state": public_state(observation),
            "checked_at": local_time(observation.checked_at),
            "zone": settings.TIME_ZONE,
            "url": settings.SITE_URL + environment.get_absolute_url(),
            "unsubscribe_url": subscriber.unsubscribe_url(),
            "subscriber": subscriber,
            "SITE_URL": settings.SITE_URL,
        }
        subject = render_to_string("email/status_change_subject.txt", context)
        text = render_to_string("email/status_change.txt", context)
    mail(subscriber, subject, text, {"X-Vitrina-Delivery": str(delivery.pk)})


def send_confirmation(subscriber, token):
    """The one email a subscription form sends: the link that confirms it, or, for an address already
    confirmed, a note saying so with the link to stop (the form's answer is the same either way, so it
    tells no one which addresses are subscribed). Raises ``DeliveryFailed`` if the mail server refuses.
    """
    with translation.override(subscriber.language):
        context = {
            "subscriber": subscriber,
            "project": subscriber.project,
            "confirm_url": subscriber.confirm_url(token) if token else None,
            "hours": Subscriber.CONFIRM_HOURS,
            "unsubscribe_url": subscriber.unsubscribe_url(),
            "SITE_URL": settings.SITE_URL,
        }
        subject = render_to_string("email/subscribe_confirm_subject.txt", context)
        text = render_to_string("email/subscribe_confirm.txt", context)
    mail(subscriber, subject, text, {})


def mail(subscriber, subject, text, headers):
    """Send one email to a subscriber, unsubscribable in one click (RFC 8058); the error names the row,
    never the address."""
    headers = {
        **headers,
        "List-Unsubscribe": f"<{subscriber.unsubscribe_url()}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Auto-Submitted": "auto-generated",
    }
    try:
        EmailMessage(
            " ".join(subject.split()),
            text,
            settings.DEFAULT_FROM_EMAIL,
            [subscriber.email],
            connection=get_connection(timeout=WEBHOOK_TIMEOUT),
            headers=headers,
        ).send()
    except (OSError, ValueError) as exc:
        # Mail servers echo the recipient in their refusals: keep the reason, not the address.
        reason = re.sub(re.escape(subscriber.email), "<address>", str(exc), flags=re.IGNORECASE)
        raise DeliveryFailed(f"Could not send mail to {subscriber}: {reason}.") from None


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
