"""Operators register and remove rebuilders in the admin through the same services as the commands (each
logged with their name), the token shown once works; rebuilds are read only, and a differing one is
answered in public from the admin, once."""

import pytest
from django.contrib.messages import get_messages

from portal.registry import services
from portal.registry.models import RebuildAnswer, Rebuilder
from portal.transparency.services import parse_entry
from tests.portal import factories
from tests.portal.rebuilders import make_rebuilder, rebuild
from verifier.keys import generate_private_key

pytestmark = pytest.mark.django_db


def token_shown(response):
    [message] = [str(m) for m in get_messages(response.wsgi_request) if "token is " in str(m)]
    return message.split("token is ")[1].split(" ")[0]


def test_a_rebuilder_added_in_the_admin_is_logged_and_its_token_works(admin_client):
    private_key = generate_private_key()
    response = admin_client.post(
        "/admin/registry/rebuilder/add/", {"name": "Lab", "public_key_pem": private_key.public_key.pem}
    )
    assert response.status_code == 302, response.content
    rebuilder = Rebuilder.objects.get(name="Lab")
    assert services.authenticate_rebuilder(token_shown(response)) == rebuilder
    logged = factories.sequenced_entries().get(kind="rebuilder_added", object_id=rebuilder.pk)
    entry = parse_entry(logged.entry)
    assert entry["by"] == {"kind": "operator", "name": "admin"}
    taken = admin_client.post(
        "/admin/registry/rebuilder/add/",
        {"name": "Lab", "public_key_pem": generate_private_key().public_key.pem},
    )
    assert "already a rebuilder named" in taken.content.decode()


def test_the_remove_action_removes_and_logs(admin_client):
    _, rebuilder, token = make_rebuilder("Lab")
    admin_client.post(
        "/admin/registry/rebuilder/", {"action": "remove", "_selected_action": [rebuilder.pk]}, follow=True
    )
    assert services.authenticate_rebuilder(token) is None
    logged = factories.sequenced_entries().get(kind="rebuilder_removed", object_id=rebuilder.pk)
    entry = parse_entry(logged.entry)
    assert entry["by"]["name"] == "admin"


def test_a_differing_rebuild_is_answered_from_the_admin_once(admin_client):
    project = factories.make_project("demo")
    release = factories.make_release(project, factories.make_key(project)[0], "1.0.0")
    private_key, rebuilder, _ = make_rebuilder("Lab")
    differing = rebuild(private_key, rebuilder, release, got={"app.tar.gz": "ab" * 32})
    listing = admin_client.get("/admin/registry/rebuild/").content.decode()
    assert f"/admin/registry/rebuildanswer/add/?rebuild={differing.pk}" in listing
    assert admin_client.get(f"/admin/registry/rebuild/{differing.pk}/change/").status_code == 200
    response = admin_client.post(
        "/admin/registry/rebuildanswer/add/", {"rebuild": differing.pk, "text": "Another gzip; fixed."}
    )
    assert response.status_code == 302, response.content
    answer = RebuildAnswer.objects.get()
    entry = parse_entry(factories.sequenced_entries().get(kind="rebuild_answer", object_id=answer.pk).entry)
    assert entry["text"] == "Another gzip; fixed." and entry["by"]["name"] == "admin"
    again = admin_client.post(
        "/admin/registry/rebuildanswer/add/", {"rebuild": differing.pk, "text": "Again."}
    )
    assert again.status_code == 200 and RebuildAnswer.objects.count() == 1
    assert admin_client.post(f"/admin/registry/rebuild/{differing.pk}/delete/").status_code == 403
