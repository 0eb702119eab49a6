"""Operators register and remove independent observers in the admin, through the same services as
`manage.py addobserver`/`removeobserver` (each logged with their name); the observer's token is shown once
and works; an observer is never edited or deleted, and its reports are read only."""

import json

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from portal.registry import services
from portal.registry.models import Observer, ObserverReport
from portal.transparency.services import parse_entry
from tests.portal import factories
from tests.portal.observers import make_observation, make_observer, signed
from verifier.keys import generate_private_key

pytestmark = pytest.mark.django_db


def add(admin_client, name="Universidad", pem=None):
    pem = pem if pem is not None else generate_private_key("ed25519").public_key.pem
    return admin_client.post("/admin/registry/observer/add/", {"name": name, "public_key_pem": pem})


def token_shown(response):
    """The token in the one message that shows it."""
    [message] = [str(m) for m in get_messages(response.wsgi_request) if "token is " in str(m)]
    return message.split("token is ")[1].split(" ")[0]


def test_an_observer_added_in_the_admin_is_logged_and_its_token_shown_once_works(admin_client):
    private_key = generate_private_key("ecdsa-p256")
    response = add(admin_client, pem=private_key.public_key.pem)
    assert response.status_code == 302, response.content
    observer = Observer.objects.get(name="Universidad")
    assert observer.key_id == private_key.public_key.key_id and observer.algorithm == "ecdsa-p256"
    entry = parse_entry(factories.sequenced_entries().get(kind="observer_added", object_id=observer.pk).entry)
    assert entry["by"] == {"kind": "operator", "name": "admin"}
    token = token_shown(response)
    assert token.startswith(Observer.TOKEN_PREFIX)
    assert services.authenticate_observer(token) == observer
    assert token in admin_client.get(response["Location"]).content.decode()
    page = admin_client.get(f"/admin/registry/observer/{observer.pk}/change/").content.decode()
    assert token not in page and observer.key_id in page, "shown once"


def test_the_token_posts_a_report_the_observers_key_signed(admin_client):
    project = factories.make_project("demo")
    environment = factories.make_environment(project)
    factories.make_deployed_release(project, "1.0.0", environment)
    private_key = generate_private_key("ed25519")
    response = add(admin_client, name="Lab", pem=private_key.public_key.pem)
    token = token_shown(response)
    observer = Observer.objects.get(name="Lab")
    envelope = signed(private_key, make_observation(observer, environment, environment.deployments.get()))
    posted = Client().post(
        "/api/v1/observer-reports/",
        data=json.dumps({"envelope": envelope}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert posted.status_code == 201, posted.content


@pytest.mark.parametrize(
    ("name", "pem", "text"),
    [
        ("Taken", None, "There is already an observer named &#x27;Taken&#x27;."),
        ("Nuevo", "not a key", "PUBLIC KEY"),
        ("Bad\u200bname", None, "one line of plain text"),
    ],
)
def test_a_refused_observer_is_a_form_error_and_nothing_is_written(admin_client, name, pem, text):
    make_observer("Taken")
    before = Observer.objects.count(), factories.sequenced_entries().count()
    response = add(admin_client, name=name, pem=pem)
    assert response.status_code == 200
    assert text in response.content.decode()
    assert (Observer.objects.count(), factories.sequenced_entries().count()) == before


def test_a_key_already_registered_is_a_form_error(admin_client):
    private_key, _, _ = make_observer("First")
    response = add(admin_client, name="Second", pem=private_key.public_key.pem)
    assert response.status_code == 200
    assert "already the key of observer &#x27;First&#x27;" in response.content.decode()
    assert not Observer.objects.filter(name="Second").exists()


def test_removing_an_observer_is_logged_and_it_cannot_be_edited_or_deleted(admin_client):
    _, observer, token = make_observer("Lab")
    response = admin_client.post(
        "/admin/registry/observer/", {"action": "remove", "_selected_action": [observer.pk]}
    )
    assert response.status_code == 302
    observer.refresh_from_db()
    assert observer.removed_at is not None
    logged = factories.sequenced_entries().get(kind="observer_removed", object_id=observer.pk)
    entry = parse_entry(logged.entry)
    assert entry["by"] == {"kind": "operator", "name": "admin"}
    assert services.authenticate_observer(token) is None
    assert admin_client.post(f"/admin/registry/observer/{observer.pk}/delete/").status_code == 403
    page = admin_client.get(f"/admin/registry/observer/{observer.pk}/change/").content.decode()
    assert 'name="name"' not in page and 'name="public_key_pem"' not in page
    admin_client.post(f"/admin/registry/observer/{observer.pk}/change/", {"name": "Renamed"})
    observer.refresh_from_db()
    assert observer.name == "Lab"


def test_observer_reports_are_listed_and_read_only(admin_client):
    project = factories.make_project("demo")
    environment = factories.make_environment(project)
    factories.make_deployed_release(project, "1.0.0", environment)
    private_key, observer, _ = make_observer("Lab")
    envelope = signed(private_key, make_observation(observer, environment, environment.deployments.get()))
    report = services.record_observer_report(observer, json.dumps(envelope))
    listing = admin_client.get("/admin/registry/observerreport/")
    assert listing.status_code == 200
    assert "Lab" in listing.content.decode() and "verified" in listing.content.decode()
    assert admin_client.get("/admin/registry/observerreport/add/").status_code == 403
    assert admin_client.post(f"/admin/registry/observerreport/{report.pk}/delete/").status_code == 403
    page = admin_client.get(f"/admin/registry/observerreport/{report.pk}/change/").content.decode()
    assert report.envelope_sha256 in page and 'name="result"' not in page
    assert ObserverReport.objects.get().result == "verified"
