"""Status changes announced on configured channels: signed webhooks with retries, and email.

Announcements go through an outbox: the change and its pending deliveries are committed together, and
the periodic sweep sends whatever the broker could not take.
"""

import datetime
import hashlib
import hmac
import json
import threading

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone
from kombu.exceptions import OperationalError

from portal.monitoring import notifications, tasks
from portal.monitoring.models import Delivery, NotificationChannel, Status
from portal.monitoring.runner import check_environment
from tests.portal import factories
from verifier.digest import sha256_bytes

from .conftest import Receiver

pytestmark = pytest.mark.django_db


def webhook(url, project=None):
    return NotificationChannel.objects.create(name="ops", kind="webhook", url=url, project=project)


def pending(channel, observation):
    return Delivery.objects.create(channel=channel, observation=observation)


def later(**kwargs):
    return timezone.now() + datetime.timedelta(**kwargs)


def signature_is_valid(channel, headers, body):
    expected = hmac.new(channel.webhook_key().encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Vitrina-Signature"], f"sha256={expected}")


@pytest.fixture
def broker_down(monkeypatch):
    """The broker is outside what these tests are about: stand in for it being unreachable the way
    kombu reports it to ``delay``.
    """

    def refuse(*args):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.deliver_notification, "delay", refuse)


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

        delivery = pending(channel, observation)

        tasks.deliver_notification.apply(args=(delivery.pk,))

    [(headers, body)] = receiver.requests
    assert signature_is_valid(channel, headers, body)
    assert headers["X-Vitrina-Delivery"] == str(delivery.pk)
    document = json.loads(body)
    assert document["delivery_id"] == delivery.pk
    assert document["event"] == "status_changed"
    assert (document["project"], document["environment"]) == (watched.project.slug, watched.environment.name)
    assert document["status"]["light"] == "green"
    assert document["status"]["live_digest"] == watched.release.artifact_digest
    assert document["previous"] is None
    assert isinstance(document["log_index"], int)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.status_code, delivery.attempts) == ("sent", 200, 1)


def test_failing_webhook_is_retried_after_the_backoff_then_given_up(watched):
    observation = check_environment(watched.environment)
    with Receiver(status=500) as receiver:
        delivery = pending(webhook(receiver.url), observation)
        now = timezone.now()

        notifications.send_due(now=now)
        delivery.refresh_from_db()
        assert (delivery.state, delivery.attempts, delivery.status_code) == ("pending", 1, 500)
        assert delivery.next_attempt_at == now + datetime.timedelta(seconds=30)
        assert notifications.send_due(now=now + datetime.timedelta(seconds=29)) == 0

        for _ in range(notifications.MAX_RETRIES):
            now = delivery.next_attempt_at
            assert notifications.send_due(now=now) == 1
            delivery.refresh_from_db()

    assert (delivery.state, delivery.attempts, delivery.status_code) == ("failed", 16, 500)
    assert len(receiver.requests) == notifications.MAX_RETRIES + 1
    assert notifications.send_due(now=later(days=30)) == 0


def test_backoff_doubles_up_to_one_hour():
    assert [notifications.backoff(n) for n in range(5)] == [30, 60, 120, 240, 480]
    assert notifications.backoff(20) == 3600


def test_delivered_announcement_is_not_sent_again(watched):
    observation = check_environment(watched.environment)
    with Receiver() as receiver:
        delivery = pending(webhook(receiver.url), observation)
        tasks.deliver_notification.apply(args=(delivery.pk,))
        tasks.deliver_notification.apply(args=(delivery.pk,))
        notifications.send_due(now=later(days=1))

    assert len(receiver.requests) == 1


def test_webhook_to_a_metadata_address_is_refused(watched):
    observation = check_environment(watched.environment)
    delivery = pending(webhook("http://169.254.169.254/hook"), observation)

    delivery = notifications.send(delivery.pk)

    assert delivery.state == "pending"
    assert "link-local" in delivery.error


def test_webhook_to_loopback_is_refused_unless_private_addresses_are_allowed(watched, settings):
    observation = check_environment(watched.environment)
    settings.VITRINA_ALLOW_PRIVATE_ADDRESSES = False
    with Receiver() as receiver:
        delivery = notifications.send(pending(webhook(receiver.url), observation).pk)

    assert "loopback" in delivery.error
    assert receiver.requests == []


def test_receiver_that_never_answers_is_cut_at_the_timeout(watched):
    with Receiver(silent=True) as receiver:
        with pytest.raises(notifications.DeliveryFailed, match="within 0.5 s"):
            notifications.post(receiver.url, b"{}", {}, allow_private=True, timeout=0.5)


def test_email_channel_gets_a_plain_summary(watched):
    observation = check_environment(watched.environment)
    channel = NotificationChannel.objects.create(name="ops", kind="email", email="ops@example.org")

    delivery = notifications.send(pending(channel, observation).pk)

    assert delivery.state == "sent"
    [message] = mail.outbox
    assert message.extra_headers["X-Vitrina-Delivery"] == str(delivery.pk)
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

    deliveries = Delivery.objects.all()
    assert sorted(deliveries.values_list("channel", "observation")) == sorted(
        [(own.pk, changed.pk), (every.pk, changed.pk), (own.pk, red.pk), (every.pk, red.pk)]
    )
    assert sorted(queued) == sorted((delivery.pk,) for delivery in deliveries)
    assert notifications.payload(red)["previous"] == {"light": "green", "result": "verified", "reason": None}


def test_change_made_while_the_broker_is_down_is_sent_by_the_sweep_once(
    watched, broker_down, django_capture_on_commit_callbacks
):
    with Receiver() as receiver:
        channel = webhook(receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            observation = check_environment(watched.environment)

        [delivery] = Delivery.objects.all()
        assert (delivery.observation, delivery.state, delivery.attempts) == (observation, "pending", 0)
        assert receiver.requests == []

        assert tasks.send_due_notifications.apply().get() == 1
        assert tasks.send_due_notifications.apply().get() == 0
        notifications.send_due(now=later(days=1))

    [(headers, body)] = receiver.requests
    assert signature_is_valid(channel, headers, body)
    assert json.loads(body)["observation_id"] == observation.pk
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.status_code) == ("sent", 1, 200)


def test_check_that_fails_before_commit_leaves_no_delivery(watched, monkeypatch):
    webhook("https://all.example/")

    def broken_status_update(status, observation):
        raise RuntimeError("disk full")

    monkeypatch.setattr("portal.monitoring.recording.update_status", broken_status_update)
    # Nothing could be written, not even the could-not-check observation: the claim's lease brings the
    # environment back one interval later (test_check_isolation.py); here nothing half-written remains.
    assert check_environment(watched.environment) is None

    assert not Delivery.objects.exists()
    assert not Status.objects.exists()


def test_delivery_claimed_by_a_worker_that_died_is_sent_after_the_claim_runs_out(watched):
    observation = check_environment(watched.environment)
    with Receiver() as receiver:
        delivery = pending(webhook(receiver.url), observation)
        now = timezone.now()
        Delivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=now + datetime.timedelta(seconds=notifications.CLAIM_SECONDS)
        )

        assert notifications.send_due(now=now) == 0
        assert notifications.send_due(now=later(seconds=notifications.CLAIM_SECONDS + 1)) == 1

    assert len(receiver.requests) == 1


def test_disabled_channel_gets_nothing(watched):
    observation = check_environment(watched.environment)
    with Receiver() as receiver:
        channel = webhook(receiver.url)
        delivery = pending(channel, observation)
        NotificationChannel.objects.filter(pk=channel.pk).update(enabled=False)

        notifications.send_due()

    delivery.refresh_from_db()
    assert delivery.state == "failed"
    assert receiver.requests == []


def test_failed_delivery_can_be_sent_again(watched):
    observation = check_environment(watched.environment)
    with Receiver() as receiver:
        delivery = pending(webhook(receiver.url), observation)
        Delivery.objects.filter(pk=delivery.pk).update(state="failed", attempts=16)

        assert notifications.send_again(Delivery.objects.all()) == 1
        assert notifications.send_due() == 1

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("sent", 1)
    assert len(receiver.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_send_each_delivery_exactly_once(watched):
    observation = check_environment(watched.environment)
    with Receiver() as receiver:
        channels = [webhook(receiver.url) for _ in range(6)]
        for channel in channels:
            pending(channel, observation)
        start = threading.Barrier(4)
        errors = []

        def sweep():
            try:
                start.wait()
                notifications.send_due()
            except Exception as exc:  # surfaced below: a thread's exception is otherwise lost
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=sweep) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    delivered = sorted(json.loads(body)["delivery_id"] for _, body in receiver.requests)
    assert delivered == sorted(Delivery.objects.values_list("pk", flat=True))
    assert set(Delivery.objects.values_list("state", "attempts")) == {("sent", 1)}
