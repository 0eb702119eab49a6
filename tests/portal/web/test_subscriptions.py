"""Email subscriptions for the public: double opt-in, one-click unsubscribe, no enumeration, rate limits.

Mail goes to Django's locmem backend (``mail.outbox``): the SMTP server is outside what Vitrina does,
and what these tests pin is what Vitrina hands it. Everything else is real: the form, the tokens, the
outbox rows written by ``recording.record``, and the sweep that sends them.
"""

import datetime
import re

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from portal.monitoring import notifications
from portal.monitoring.models import Delivery, Subscriber
from portal.monitoring.recording import record
from portal.monitoring.rules import Finding
from tests.portal import factories

pytestmark = pytest.mark.django_db

SUBSCRIBE = "/subscribe/"
LINK = re.compile(r"https?://\S+")


@pytest.fixture(autouse=True)
def locmem_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://vitrina.example"


@pytest.fixture
def project(log_key_file):
    project = factories.make_project("city-portal", name="City Portal")
    environment = factories.make_environment(project, "production")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.4.1")
    factories.make_deployment(environment, release)
    project.environment, project.release = environment, release
    return project


def links(message):
    """The links in an email's body, as paths on the site."""
    return [url.removeprefix("https://vitrina.example") for url in LINK.findall(message.body)]


def change(environment, result, reason, checked_at):
    """A status change, recorded as a check would record it (observation, status, log entry, outbox)."""
    return record(environment, Finding(result, reason, "test"), checked_at=checked_at, duration_ms=5)


def subscribe(client, email="ana@example.org", project="", **extra):
    return client.post(SUBSCRIBE, {"email": email, "project": project}, **extra)


def test_form_preselects_the_project_in_the_address(client, project):
    response = client.get(SUBSCRIBE + "?project=city-portal")

    assert response.status_code == 200
    assert re.search(r'<option value="city-portal" selected>City Portal</option>', response.text)


def test_form_is_protected_against_cross_site_posts(project):
    from django.test import Client

    response = subscribe(Client(enforce_csrf_checks=True))

    assert response.status_code == 403
    assert mail.outbox == []


def test_subscribe_confirm_change_unsubscribe_end_to_end(client, project):
    t0 = timezone.now() - datetime.timedelta(hours=1)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "es"
    response = subscribe(client, "Ana@Example.org", "city-portal")

    assert response.status_code == 200
    assert "Revise su bandeja de entrada" in response.text
    [confirmation] = mail.outbox
    assert confirmation.to == ["ana@example.org"]
    assert "Confirme su suscripción" in confirmation.subject
    [confirm_link] = [link for link in links(confirmation) if "/confirm/" in link]

    # Until the link is followed and its button pressed, a change sends nothing.
    change(project.environment, "verified", "", t0)
    notifications.send_due()
    assert len(mail.outbox) == 1
    assert client.get(confirm_link).status_code == 200
    assert Subscriber.objects.get().confirmed_at is None

    assert "Está suscrito" in client.post(confirm_link).text
    change(project.environment, "mismatch", "unregistered_artifact", t0 + datetime.timedelta(minutes=5))
    assert notifications.send_due() == 1

    [_, news] = mail.outbox
    assert news.to == ["ana@example.org"]
    assert "City Portal" in news.subject and "no coincide" in news.subject
    assert "La luz de City Portal, producción, cambió: no coincide." in news.body
    assert "El servidor dice que ejecuta una versión que nunca se publicó." in news.body
    assert "https://vitrina.example/p/city-portal/production/" in news.body
    [unsubscribe_link] = [link for link in links(news) if "/stop/" in link]
    assert news.extra_headers["List-Unsubscribe"] == f"<https://vitrina.example{unsubscribe_link}>"
    assert news.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # The mail client's one click: a POST with no cookie and no CSRF token, as RFC 8058 sends it.
    from django.test import Client

    one_click = Client(enforce_csrf_checks=True).post(
        unsubscribe_link, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert one_click.status_code == 200
    assert not Subscriber.objects.exists()
    change(project.environment, "verified", "", t0 + datetime.timedelta(minutes=10))
    assert notifications.send_due() == 0
    assert len(mail.outbox) == 2


def test_answer_is_the_same_for_a_new_and_an_already_subscribed_address(client, project):
    def page(response):
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.text)

    first = subscribe(client)
    [confirm_link] = [link for link in links(mail.outbox[0]) if "/confirm/" in link]
    client.post(confirm_link)
    again = subscribe(client)

    assert (first.status_code, page(first)) == (again.status_code, page(again))
    assert len(mail.outbox) == 2
    assert "already subscribed" in mail.outbox[1].subject
    assert "ana@example.org" not in page(again)


def test_each_subscription_sends_one_email_and_a_new_one_replaces_the_old_link(client, project):
    subscribe(client)
    subscribe(client)

    assert len(mail.outbox) == 2
    [old, new] = [[link for link in links(m) if "/confirm/" in link][0] for m in mail.outbox]
    assert client.post(old).status_code == 404
    assert client.post(new).status_code == 200


def test_get_on_the_confirm_link_does_not_confirm(client, project):
    subscribe(client)
    [confirm_link] = [link for link in links(mail.outbox[0]) if "/confirm/" in link]

    for _ in range(3):
        response = client.get(confirm_link)

    assert response.status_code == 200 and "<form" in response.text
    assert Subscriber.objects.get().confirmed_at is None


def test_a_used_confirm_link_cannot_be_used_again(client, project):
    subscribe(client)
    [confirm_link] = [link for link in links(mail.outbox[0]) if "/confirm/" in link]
    client.post(confirm_link)

    response = client.post(confirm_link)

    assert response.status_code == 404
    assert "This link is not valid" in response.text


def test_an_expired_confirm_link_is_refused_and_says_so(client, project):
    subscribe(client)
    [confirm_link] = [link for link in links(mail.outbox[0]) if "/confirm/" in link]
    Subscriber.objects.update(confirm_sent_at=timezone.now() - datetime.timedelta(hours=49))

    response = client.post(confirm_link)

    assert response.status_code == 410
    assert "This link has expired" in response.text
    assert Subscriber.objects.get().confirmed_at is None


def test_an_unconfirmed_address_is_deleted_once_its_link_expired(client, project):
    subscribe(client, "old@example.org")
    Subscriber.objects.update(confirm_sent_at=timezone.now() - datetime.timedelta(hours=49))

    subscribe(client, "new@example.org")

    assert list(Subscriber.objects.values_list("email", flat=True)) == ["new@example.org"]


def test_the_confirmation_token_is_not_stored(client, project):
    subscribe(client)
    [confirm_link] = [link for link in links(mail.outbox[0]) if "/confirm/" in link]
    token = confirm_link.rstrip("/").rsplit("/", 1)[1]

    assert len(token) >= 40
    assert token not in repr(list(Subscriber.objects.values()))


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not-an-address", "This is not an email address"),
        ("", "Write the email address"),
        ("a" * 250 + "@example.org", "at most 254 characters"),
    ],
)
def test_bad_or_overlong_address_is_a_clear_400(client, project, email, message):
    response = subscribe(client, email)

    assert response.status_code == 400
    assert message in response.text
    assert mail.outbox == [] and not Subscriber.objects.exists()


def test_unknown_project_is_a_clear_400(client, project):
    response = subscribe(client, project="x" * 5000)

    assert response.status_code == 400
    assert "There is no such project" in response.text


def test_overlong_tokens_in_links_are_404_not_500(client, project):
    assert client.post(f"/subscribe/confirm/{'a' * 5000}/").status_code == 404
    assert client.post(f"/subscribe/stop/1/{'a' * 5000}/").status_code == 404


def test_too_many_requests_for_one_address_are_refused_with_a_clear_message(client, project):
    for n in range(3):
        assert subscribe(client, "ana@example.org", REMOTE_ADDR=f"192.0.2.{n}").status_code == 200

    response = subscribe(client, "ANA@example.org", REMOTE_ADDR="192.0.2.99")

    assert response.status_code == 429
    assert "Too many subscription requests" in response.text
    assert len(mail.outbox) == 3
    assert subscribe(client, "bob@example.org", REMOTE_ADDR="192.0.2.99").status_code == 200


def test_too_many_requests_from_one_client_are_refused(client, project):
    for n in range(10):
        assert subscribe(client, f"person{n}@example.org").status_code == 200

    response = subscribe(client, "person-11@example.org")

    assert response.status_code == 429
    assert response["Retry-After"] == "3600"
    assert len(mail.outbox) == 10
    assert subscribe(client, "person-11@example.org", REMOTE_ADDR="192.0.2.7").status_code == 200


def test_a_broken_unsubscribe_link_changes_nothing(client, project):
    subscribe(client)
    client.post([link for link in links(mail.outbox[0]) if "/confirm/" in link][0])
    subscriber = Subscriber.objects.get()

    response = client.post(reverse("web:unsubscribe", args=[subscriber.pk, "0" * 64]))

    assert response.status_code == 404
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()


def test_unsubscribe_asks_on_get_and_deletes_on_post(client, project):
    subscribe(client)
    client.post([link for link in links(mail.outbox[0]) if "/confirm/" in link][0])
    subscriber = Subscriber.objects.get()
    url = reverse("web:unsubscribe", args=[subscriber.pk, subscriber.unsubscribe_token()])

    assert "<form" in client.get(url).text
    assert Subscriber.objects.exists()
    assert client.post(url).status_code == 200
    assert not Subscriber.objects.exists()
    assert "You are unsubscribed" in client.post(url).text


def test_unsubscribing_drops_the_pending_emails(client, project):
    t0 = timezone.now() - datetime.timedelta(hours=1)
    subscribe(client)
    client.post([link for link in links(mail.outbox[0]) if "/confirm/" in link][0])
    subscriber = Subscriber.objects.get()
    change(project.environment, "verified", "", t0)
    assert Delivery.objects.filter(subscriber=subscriber).count() == 1

    client.post(reverse("web:unsubscribe", args=[subscriber.pk, subscriber.unsubscribe_token()]))

    assert notifications.send_due() == 0
    assert len(mail.outbox) == 1


def test_no_address_in_logs_or_pages(client, project, caplog, settings):
    settings.EMAIL_BACKEND = "tests.portal.web.test_subscriptions.RefusingBackend"
    caplog.set_level("DEBUG")

    response = subscribe(client, "secret-person@example.org")

    assert response.status_code == 503
    assert "could not send the email" in response.text
    assert "secret-person" not in caplog.text
    assert "secret-person" not in str(Subscriber.objects.get())


class RefusingBackend:
    """A mail server that refuses every message, as smtplib reports it."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError("530 refused for secret-person@example.org")


def test_the_admin_counts_subscribers_without_listing_their_addresses(admin_client, project):
    Subscriber.subscribe("waiting.person@example.org", None, "es")
    for n in range(2):
        Subscriber.subscribe(f"reader.{n}@example.org", project, "en")[0].confirm()

    listing = admin_client.get("/admin/monitoring/subscriber/").text
    confirmed = admin_client.get("/admin/monitoring/subscriber/?confirmed=yes").text
    found = admin_client.get("/admin/monitoring/subscriber/?q=Reader.1@example.org").text
    partial = admin_client.get("/admin/monitoring/subscriber/?q=reader").text

    assert "3 email subscribers" in listing and "2 email subscribers" in confirmed
    assert "w…@example.org" in listing
    assert not re.search(r"waiting\.person|reader\.\d", listing)
    assert "1 email subscriber" in found and "r…@example.org" in found
    assert "0 email subscribers" in partial


def test_a_body_past_the_sites_limit_is_a_400_not_a_500(client, project):
    response = subscribe(client, "a" * 300_000 + "@example.org")

    assert response.status_code == 400
    assert mail.outbox == [] and not Subscriber.objects.exists()
