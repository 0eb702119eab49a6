"""manage.py addobserver and removeobserver: the token printed once, the key id named, one-line errors."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from portal.registry import services
from portal.registry.models import Observer
from verifier.keys import generate_private_key

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def pem_file(tmp_path):
    key = generate_private_key()
    path = tmp_path / "observer.pub"
    path.write_text(key.public_key.pem)
    return key, str(path)


def test_addobserver_prints_the_token_that_authenticates_it_and_the_key_id(pem_file):
    key, path = pem_file
    out, err = run("addobserver", "Universidad de la República", "--key", path)
    token = out.strip()
    assert services.authenticate_observer(token).name == "Universidad de la República"
    assert key.public_key.key_id in err


def test_addobserver_refuses_a_taken_name_in_one_line(pem_file):
    _, path = pem_file
    run("addobserver", "Lab", "--key", path)
    with pytest.raises(CommandError, match="already an observer named 'Lab'"):
        run("addobserver", "Lab", "--key", path)


def test_removeobserver_removes_once_and_names_unknown_observers(pem_file):
    _, path = pem_file
    token = run("addobserver", "Lab", "--key", path)[0].strip()
    assert "Removed observer 'Lab'" in run("removeobserver", "Lab")[0]
    assert "already removed" in run("removeobserver", "Lab")[0]
    assert services.authenticate_observer(token) is None
    assert Observer.objects.get().removed_at is not None
    with pytest.raises(CommandError, match="no observer named 'Nobody' \\(observers: Lab\\)"):
        run("removeobserver", "Nobody")
