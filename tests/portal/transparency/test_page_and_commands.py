"""The public log page, the management commands and the Celery tasks."""

import os
import stat

import pytest
from django.core.management import CommandError, call_command

from portal.transparency import services, tasks
from portal.transparency.models import AuditRun, Checkpoint
from portal.transparency.schedule import BEAT_SCHEDULE
from portal.transparency.signing import LogKeyError, load_signing_key, verifier_key
from tests.portal import factories

pytestmark = pytest.mark.django_db


def test_log_page_lists_entries_newest_first_with_links_to_their_records(client, log_key_file):
    project = factories.make_project("demo")
    environment = factories.make_environment(project)
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "1.0.0")
    deployment = factories.make_deployment(environment, release)
    services.integrate()
    response = client.get("/log/")
    assert response.status_code == 200
    page = response.content.decode()
    assert verifier_key() in page
    assert "vitrina.example/log" in page
    assert page.index('id="entry-2"') < page.index('id="entry-1"') < page.index('id="entry-0"')
    assert release.get_absolute_url() in page
    assert deployment.get_absolute_url() in page
    assert project.get_absolute_url() in page


def test_log_page_is_paginated_and_opens_the_page_of_an_entry(client, log_key_file):
    project = factories.make_project()
    private_key, _ = factories.make_key(project)
    for n in range(60):
        factories.make_release(project, private_key, f"0.{n}.0")
    services.integrate()
    first_page = client.get("/log/").content.decode()
    assert 'id="entry-60"' in first_page and 'id="entry-5"' not in first_page
    assert 'id="entry-5"' in client.get("/log/?entry=5").content.decode()
    assert client.get("/log/?page=999").status_code == 200
    assert client.get("/log/?entry=-1").status_code == 200


def test_genlogkey_creates_a_private_key_file_once(settings, tmp_path, capsys):
    settings.VITRINA_LOG_KEY_FILE = str(tmp_path / "keys" / "log.key")
    call_command("genlogkey")
    mode = stat.S_IMODE(os.stat(settings.VITRINA_LOG_KEY_FILE).st_mode)
    assert mode == 0o600
    first = load_signing_key()
    out = capsys.readouterr().out
    assert "created" in out and verifier_key() in out
    assert "PRIVATE" not in out
    call_command("genlogkey")
    assert "left as it was" in capsys.readouterr().out
    assert load_signing_key().private_bytes_raw() == first.private_bytes_raw()


@pytest.mark.parametrize(
    "content, problem",
    [(None, "does not exist"), (b"not a key", "not an unencrypted PEM"), (b"", "not an unencrypted PEM")],
)
def test_an_unusable_key_file_is_one_clear_line(settings, tmp_path, content, problem):
    path = tmp_path / "log.key"
    if content is not None:
        path.write_bytes(content)
    settings.VITRINA_LOG_KEY_FILE = str(path)
    with pytest.raises(LogKeyError, match=problem) as caught:
        load_signing_key()
    assert "\n" not in str(caught.value)
    with pytest.raises(CommandError, match=problem):
        call_command("integratelog")


def test_an_unreadable_key_file_is_reported(log_key_file):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    os.chmod(log_key_file, 0o000)
    with pytest.raises(LogKeyError, match="cannot be read"):
        load_signing_key()


def test_integratelog_and_auditlog_commands(log_key_file, capsys):
    project = factories.make_project()
    factories.make_key(project)
    call_command("integratelog")
    assert "tree size 1" in capsys.readouterr().out
    call_command("auditlog")
    assert "1 entries re-hashed" in capsys.readouterr().out


def test_tasks_integrate_and_audit(log_key_file, settings, tmp_path):
    project = factories.make_project()
    factories.make_key(project)
    assert tasks.integrate.apply().get() == 1
    assert tasks.audit.apply().get() is True
    assert AuditRun.objects.count() == 1
    settings.VITRINA_LOG_KEY_FILE = str(tmp_path / "absent.key")
    assert tasks.integrate.apply().get() is None
    assert Checkpoint.objects.count() == 1


def test_beat_schedule_names_the_real_tasks():
    assert {entry["task"] for entry in BEAT_SCHEDULE.values()} == {
        tasks.integrate.name,
        tasks.audit.name,
        tasks.witness.name,
    }
    assert BEAT_SCHEDULE["transparency-witness"]["schedule"] == 2.0
    assert BEAT_SCHEDULE["transparency-integrate"]["schedule"] == 1.0
    assert BEAT_SCHEDULE["transparency-audit"]["schedule"] == 600.0
