"""Status changes announced on configured channels: signed webhooks with retries, and email."""

import hashlib
import hmac
import json

import pytest
from django.core import mail

from portal.monitoring import notifications, tasks
from portal.monitoring.checks import check_environment
from portal.monitoring.models import Delivery, NotificationChannel
from tests.portal import factories
from verifier.digest import sha256_bytes

from .conftest import Receiver

pytestmark = pytest.mark.django_db


def webhook(url, project=None):
    return NotificationChannel.objects.create(name="ops", kind="webhook", url=url, project=project)


def test_webhook_key_is_derived_per_channel_and_never_stored(watched, settings):
    first, second = webhook("https://a.example/"), webhook("https://b.example/")

    assert first.webhook_key() != second.webhook_key()
    assert len(first.webhook_key()) == 64
    assert first.webhook_key() not in json.dumps(list(NotificationChannel.objects.values()), default=str)
    before = first.webhook_key()
    settings.SECRET_KEY = "rotated"
    assert NotificationChannel.objects.get(pk=first.pk).webhook_key() != before


def test_webhook_carries_the_change_signed_with_the_channel_key(watched):
    observation = check_environment(watched.environment)
    with Receiver() as receiver:
        channel = webhook(receiver.url)

        tasks.deliver_notification.apply(args=(channel.pk, observation.pk))

    [(headers, body)] = receiver.requests
    expected = hmac.new(channel.webhook_key().encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Vitrina-Signature"] == f"sha256={expected}"
    document = json.loads(body)
    assert document["event"] == "status_changed"
    assert (document["project"], document["environment"]) == (watched.project.slug, watched.environment.name)
    assert document["status"]["light"] == "green"
    assert document["status"]["live_digest"] == watched.release.artifact_digest
    assert document["previous"] is None
    assert isinstance(document["log_index"], int)
    [delivery] = Delivery.objects.all()
    assert (delivery.succeeded, delivery.status_code, delivery.attempt) == (True, 200, 1)


def test_failing_webhook_is_retried_with_every_attempt_logged(watched):
    observation = check_environment(watched.environment)
    with Receiver(status=500) as receiver:
        channel = webhook(receiver.url)

        tasks.deliver_notification.apply(args=(channel.pk, observation.pk))

    attempts = list(Delivery.objects.order_by("attempt").values_list("attempt", "succeeded", "status_code"))
    assert attempts == [(n, False, 500) for n in range(1, notifications.MAX_RETRIES + 2)]
    assert len(receiver.requests) == notifications.MAX_RETRIES + 1


def test_backoff_doubles_up_to_one_hour():
    assert [notifications.backoff(n) for n in range(5)] == [30, 60, 120, 240, 480]
    assert notifications.backoff(20) == 3600


def test_delivered_announcement_is_not_sent_again(watched):
    observation = check_environment(watched.environment)
    with Receiver() as receiver:
        channel = webhook(receiver.url)
        tasks.deliver_notification.apply(args=(channel.pk, observation.pk))
        tasks.deliver_notification.apply(args=(channel.pk, observation.pk))

    assert len(receiver.requests) == 1


def test_webhook_to_a_metadata_address_is_refused(watched):
    observation = check_environment(watched.environment)
    channel = webhook("http://169.254.169.254/hook")

    delivery = notifications.deliver(channel, observation, attempt=1)

    assert not delivery.succeeded
    assert "link-local" in delivery.error


def test_webhook_to_loopback_is_refused_unless_private_addresses_are_allowed(watched, settings):
    observation = check_environment(watched.environment)
    settings.VITRINA_ALLOW_PRIVATE_ADDRESSES = False
    with Receiver() as receiver:
        delivery = notifications.deliver(webhook(receiver.url), observation, attempt=1)

    assert "loopback" in delivery.error
    assert receiver.requests == []


def test_receiver_that_never_answers_is_cut_at_the_timeout(watched):
    with Receiver(silent=True) as receiver:
        with pytest.raises(notifications.DeliveryFailed, match="within 0.5 s"):
            notifications.post(receiver.url, b"{}", {}, allow_private=True, timeout=0.5)


def test_email_channel_gets_a_plain_summary(watched):
    observation = check_environment(watched.environment)
    channel = NotificationChannel.objects.create(name="ops", kind="email", email="ops@example.org")

    delivery = notifications.deliver(channel, observation, attempt=1)

    assert delivery.succeeded
    [message] = mail.outbox
    assert message.to == ["ops@example.org"]
    assert "GREEN" in message.subject
    assert watched.release.artifact_digest in message.body


def test_change_is_announced_on_the_projects_channels_and_the_global_ones(
    watched, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(tasks.deliver_notification, "delay", lambda *args: queued.append(args))
    own = webhook("https://own.example/", project=watched.project)
    every = webhook("https://all.example/")
    webhook("https://other.example/", project=factories.make_project())
    NotificationChannel.objects.create(name="off", kind="webhook", url="https://off.example/", enabled=False)

    with django_capture_on_commit_callbacks(execute=True):
        changed = check_environment(watched.environment)
    with django_capture_on_commit_callbacks(execute=True):
        check_environment(watched.environment)
    watched.server.set_body({"artifact_digest": sha256_bytes(b"rogue")})
    with django_capture_on_commit_callbacks(execute=True):
        red = check_environment(watched.environment)

    assert sorted(queued) == sorted(
        [(own.pk, changed.pk), (every.pk, changed.pk), (own.pk, red.pk), (every.pk, red.pk)]
    )
    assert notifications.payload(red)["previous"] == {"light": "green", "result": "verified", "reason": None}
