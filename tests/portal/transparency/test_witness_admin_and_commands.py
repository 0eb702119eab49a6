"""Operators add and remove witnesses in the admin and with `manage.py addwitness`/`removewitness`, through
the same service (each logged with who did it); a witness is never edited or deleted, and cosignatures are
read only."""

import io

import pytest
from django.core.management import CommandError, call_command

from portal.transparency import services
from portal.transparency.models import Cosignature, LogEntry, Witness
from tests.portal.witnesses import make_witness_key
from verifier.entries import parse_entry

pytestmark = pytest.mark.django_db

NAME = "witness.example/w1"


@pytest.fixture(autouse=True)
def log(log_key_file):
    return log_key_file


def logged(kind, witness):
    return parse_entry(bytes(services.entry_for(kind, witness.pk).entry))


def add(admin_client, name=NAME, vkey=None, url="https://witness.example/"):
    vkey = vkey or make_witness_key(NAME).verifier_key
    return admin_client.post(
        "/admin/transparency/witness/add/", {"name": name, "verifier_key": vkey, "url": url}
    )


def test_a_witness_added_in_the_admin_is_logged_with_the_operator_and_then_only_viewed(admin_client):
    key = make_witness_key(NAME)
    response = add(admin_client, vkey=key.verifier_key)
    assert response.status_code == 302, response.content
    witness = Witness.objects.get(name=NAME)
    assert witness.verifier_key == key.verifier_key
    assert logged("witness_added", witness)["by"] == {"kind": "operator", "name": "admin"}
    page = admin_client.get(f"/admin/transparency/witness/{witness.pk}/change/")
    assert page.status_code == 200 and key.key_hash.hex() in page.content.decode()
    edited = admin_client.post(
        f"/admin/transparency/witness/{witness.pk}/change/", {"name": "x", "verifier_key": "y", "url": "z"}
    )
    assert edited.status_code == 403
    assert admin_client.post(f"/admin/transparency/witness/{witness.pk}/delete/").status_code == 403
    assert Witness.objects.get().name == NAME


def test_a_refused_witness_is_a_form_error_and_nothing_is_written(admin_client):
    response = add(admin_client, name="witness.example/other")
    assert response.status_code == 200
    assert "is not the name in the verifier key" in response.content.decode()
    assert not Witness.objects.exists()


def test_the_remove_action_removes_each_selected_witness_once_logged(admin_client):
    add(admin_client)
    witness = Witness.objects.get()
    for _ in range(2):
        response = admin_client.post(
            "/admin/transparency/witness/", {"action": "remove", "_selected_action": [witness.pk]}
        )
        assert response.status_code == 302
    witness.refresh_from_db()
    assert witness.removed_at is not None
    assert logged("witness_removed", witness)["by"] == {"kind": "operator", "name": "admin"}
    services.integrate()
    assert LogEntry.objects.filter(kind="witness_removed").count() == 1


def test_cosignatures_are_listed_and_never_added_changed_or_deleted(admin_client):
    assert admin_client.get("/admin/transparency/cosignature/").status_code == 200
    assert admin_client.get("/admin/transparency/cosignature/add/").status_code == 403
    assert not Cosignature.objects.exists()


def test_addwitness_and_removewitness_log_it_and_say_so_in_one_line():
    key = make_witness_key(NAME)
    out = io.StringIO()
    call_command("addwitness", NAME, key.verifier_key, "https://witness.example/", stdout=out)
    witness = Witness.objects.get()
    assert f"key ID {key.key_hash.hex()}" in out.getvalue()
    assert logged("witness_added", witness)["by"] == {"kind": "system", "name": "vitrina"}
    out = io.StringIO()
    call_command("removewitness", NAME, stdout=out)
    assert out.getvalue().startswith(f"Removed witness '{NAME}' at ")
    witness.refresh_from_db()
    assert logged("witness_removed", witness)["removed_at"] is not None
    out = io.StringIO()
    call_command("removewitness", NAME, stdout=out)
    assert "already removed" in out.getvalue()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (("addwitness", "other.example/w", None, "https://w.example/"), "not the name in the verifier key"),
        (("addwitness", NAME, "garbage", "https://w.example/"), "not of the form name+hash+key"),
        (("addwitness", NAME, None, "file:///etc/passwd"), "not an http or https URL"),
        (("removewitness", "nobody"), "There is no witness named 'nobody' (witnesses: none)."),
    ],
)
def test_a_bad_command_is_one_line(argv, words):
    argv = [make_witness_key(NAME).verifier_key if arg is None else arg for arg in argv]
    with pytest.raises(CommandError) as error:
        call_command(*argv)
    assert words in str(error.value) and "\n" not in str(error.value)
    assert not Witness.objects.exists()
