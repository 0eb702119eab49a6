"""manage.py addrebuilder, removerebuilder and answerrebuild: the token printed once, the key id named,
one-line errors, and the answer logged."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from portal.registry import services
from portal.registry.models import Rebuilder
from tests.portal import factories
from tests.portal.rebuilders import make_rebuilder, rebuild
from verifier.keys import generate_private_key

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def pem_file(tmp_path):
    key = generate_private_key()
    path = tmp_path / "rebuilder.pub"
    path.write_text(key.public_key.pem)
    return key, str(path)


def test_addrebuilder_prints_only_the_token_on_stdout_and_the_key_id_on_stderr(pem_file):
    key, path = pem_file
    out, err = run("addrebuilder", "Reproducible Uruguay", "--key", path)
    token = out.strip()
    assert token.startswith("vtb_")
    assert services.authenticate_rebuilder(token).name == "Reproducible Uruguay"
    assert key.public_key.key_id in err and "VITRINA_REBUILDER_TOKEN" in err
    assert factories.sequenced_entries().filter(kind="rebuilder_added").count() == 1


def test_addrebuilder_refuses_in_one_line(pem_file, tmp_path):
    _, path = pem_file
    run("addrebuilder", "Lab", "--key", path)
    with pytest.raises(CommandError, match="already a rebuilder named 'Lab'"):
        run("addrebuilder", "Lab", "--key", path)
    with pytest.raises(CommandError, match="Cannot read"):
        run("addrebuilder", "Other", "--key", str(tmp_path / "missing.pem"))


def test_removerebuilder_removes_once_and_names_unknown_rebuilders(pem_file):
    _, path = pem_file
    token = run("addrebuilder", "Lab", "--key", path)[0].strip()
    assert "Removed rebuilder 'Lab'" in run("removerebuilder", "Lab")[0]
    assert "already removed" in run("removerebuilder", "Lab")[0]
    assert services.authenticate_rebuilder(token) is None
    assert Rebuilder.objects.get().removed_at is not None
    with pytest.raises(CommandError, match="no rebuilder named 'Nobody' \\(rebuilders: Lab\\)"):
        run("removerebuilder", "Nobody")


def test_answerrebuild_answers_a_differing_rebuild_once():
    project = factories.make_project("demo")
    release = factories.make_release(project, factories.make_key(project)[0], "1.0.0")
    private_key, rebuilder, _ = make_rebuilder("Lab")
    differing = rebuild(private_key, rebuilder, release, got={"app.tar.gz": "ab" * 32})
    out, _ = run("answerrebuild", str(differing.pk), "--text", "Another gzip; fixed in 1.0.1.")
    assert f"Answered rebuild {differing.pk} of demo 1.0.0 by rebuilder 'Lab'" in out
    assert differing.answer.text == "Another gzip; fixed in 1.0.1."
    assert factories.sequenced_entries().get(kind="rebuild_answer").object_id == differing.answer.pk
    with pytest.raises(CommandError, match="already answered"):
        run("answerrebuild", str(differing.pk), "--text", "Again.")
    with pytest.raises(CommandError, match="There is no rebuild 999"):
        run("answerrebuild", "999", "--text", "Nobody.")
