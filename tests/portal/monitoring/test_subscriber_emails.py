"""Status changes emailed to confirmed subscribers through the outbox, in their language, once each.

Mail goes to Django's locmem backend (``mail.outbox``), or to a backend that refuses like a mail server
does: the SMTP server itself is outside what Vitrina does. Changes are recorded by ``recording.record``,
as a check records them.
"""

import datetime

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.monitoring import notifications
from portal.monitoring.models import Delivery, Subscriber
from portal.monitoring.recording import record
from portal.monitoring.rules import Finding
from tests.portal import factories

pytestmark = pytest.mark.django_db

REFUSING = "tests.portal.monitoring.test_subscriber_emails.RefusingBackend"


class RefusingBackend:
    """A mail server that refuses every message, echoing the recipient as real servers do."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError(f"550 mailbox unavailable: {messages[0].to[0].upper()}")


@pytest.fixture
def environment(log_key_file, settings):
    settings.SITE_URL = "https://vitrina.example"
    settings.TIME_ZONE = "America/Montevideo"
    project = factories.make_project("city-portal", name="City Portal")
    return factories.make_environment(project, "production")


def confirmed(email, project=None, language="en"):
    subscriber, _ = Subscriber.subscribe(email, project, language)
    subscriber.confirm()
    return subscriber


def change(environment, result="mismatch", reason="unregistered_artifact", minutes_ago=5):
    checked_at = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    return record(environment, Finding(result, reason, "test"), checked_at=checked_at, duration_ms=5)


def test_a_change_is_queued_for_confirmed_subscribers_of_its_project_and_of_every_project(environment):
    own = confirmed("own@example.org", environment.project)
    every = confirmed("every@example.org")
    confirmed("other@example.org", factories.make_project())
    Subscriber.subscribe("unconfirmed@example.org", environment.project, "en")

    observation = change(environment)

    queued = Delivery.objects.filter(observation=observation, subscriber__isnull=False)
    assert sorted(queued.values_list("subscriber", flat=True)) == sorted([own.pk, every.pk])


def test_a_change_rolled_back_leaves_no_email_to_send(environment):
    confirmed("ana@example.org")

    with pytest.raises(RuntimeError), transaction.atomic():
        change(environment)
        raise RuntimeError("the check's transaction fails after recording")

    assert not Delivery.objects.exists()
    assert notifications.send_due() == 0


@pytest.mark.parametrize(
    ("language", "subject", "words", "link_text"),
    [
        (
            "en",
            "[Vitrina] City Portal · production: could not verify",
            "This is not evidence of tampering",
            "To stop these emails, open this link:",
        ),
        (
            "es",
            "[Vitrina] City Portal · producción: no se pudo verificar",
            "Esto no es prueba de una manipulación",
            "Para dejar de recibir estos correos, abra este enlace:",
        ),
    ],
)
def test_the_email_speaks_the_subscribers_language_with_the_pages_words(
    environment, language, subject, words, link_text
):
    subscriber = confirmed("ana@example.org", language=language)
    change(environment, "unverifiable", "repo_unreachable")

    assert notifications.send_due() == 1

    [message] = mail.outbox
    assert message.subject == subject
    assert words in message.body
    assert "https://vitrina.example/p/city-portal/production/" in message.body
    assert f"{link_text}\n{subscriber.unsubscribe_url()}\n" in message.body
    assert "America/Montevideo" in message.body
    assert message.extra_headers["List-Unsubscribe"] == f"<{subscriber.unsubscribe_url()}>"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_delivery_is_sent_once_however_often_it_is_asked_for(environment):
    confirmed("ana@example.org")
    change(environment)
    [delivery] = Delivery.objects.all()

    notifications.send(delivery.pk)
    notifications.send(delivery.pk)
    notifications.send_due(now=timezone.now() + datetime.timedelta(days=1))

    assert len(mail.outbox) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("sent", 1)


def test_a_refused_email_is_retried_and_its_error_names_no_address(environment, settings, caplog):
    confirmed("ana@example.org")
    change(environment)
    [delivery] = Delivery.objects.all()
    settings.EMAIL_BACKEND = REFUSING

    notifications.send_due()

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert "550 mailbox unavailable" in delivery.error
    assert "ana@" not in delivery.error.lower() and "ana@" not in caplog.text.lower()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notifications.send_due(now=delivery.next_attempt_at) == 1
    assert len(mail.outbox) == 1


def test_a_delivery_whose_subscriber_left_is_not_sent(environment):
    subscriber = confirmed("ana@example.org")
    change(environment)
    [delivery] = Delivery.objects.all()

    subscriber.delete()

    assert notifications.send(delivery.pk) is None
    assert mail.outbox == []


def test_a_delivery_goes_to_exactly_one_channel_or_subscriber(environment):
    observation = change(environment)

    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(observation=observation)


def test_an_address_is_subscribed_once_to_a_project_and_once_to_every_project(environment):
    first, _ = Subscriber.subscribe("Ana@Example.org", None, "en")
    again, _ = Subscriber.subscribe("ana@example.org", None, "es")
    own, _ = Subscriber.subscribe("ana@example.org", environment.project, "en")

    assert first.pk == again.pk != own.pk
    assert Subscriber.objects.count() == 2
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscriber.objects.create(email="ana@example.org", project=None, language="en")


def test_the_unsubscribe_token_is_derived_not_stored_and_rotates_with_the_secret(environment, settings):
    subscriber = confirmed("ana@example.org")
    token = subscriber.unsubscribe_token()

    assert Subscriber.unsubscribe_link_is_valid(subscriber.pk, token)
    assert not Subscriber.unsubscribe_link_is_valid(subscriber.pk + 1, token)
    assert token not in repr(list(Subscriber.objects.values()))
    settings.SECRET_KEY = "rotated"
    assert not Subscriber.unsubscribe_link_is_valid(subscriber.pk, token)
