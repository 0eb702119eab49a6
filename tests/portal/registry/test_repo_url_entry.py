"""A project's repository URL is checked when it is entered (createproject, the admin), with the same
rule as before every fetch (``verifier.repo.check_repo_url``), so a hostile URL is never stored."""

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError

from portal.registry.models import Project
from tests.portal import factories

pytestmark = pytest.mark.django_db

HOSTILE_URLS = [
    "ext::sh -c x",
    "--upload-pack=x",
    "https://user:pw@git.example.org/r.git",
    "ssh://git.example.org/r.git",
    "https://git.example.org/r.git --upload-pack=x",
]


def createproject(capsys, *arguments):
    """Run createproject as the command line does: ``(exit code, stdout, stderr)``.

    Like ``manage.py``, this closes the database connections when done: check the database with
    ``call_command`` instead."""
    command = load_command_class("portal.registry", "createproject")
    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(["manage.py", "createproject", *arguments])
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_createproject_refuses_a_hostile_repository_url_in_one_line(capsys, url):
    code, out, err = createproject(capsys, "demo", "--name", "Demo", f"--repo={url}")

    assert code == 1
    assert out == ""
    assert err.startswith("CommandError: repo_url: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_createproject_stores_nothing_for_a_hostile_repository_url(url):
    with pytest.raises(CommandError):
        call_command("createproject", "demo", "--name", "Demo", f"--repo={url}")

    assert not Project.objects.exists()


def test_createproject_does_not_repeat_credentials(capsys):
    _, _, err = createproject(capsys, "demo", "--name", "Demo", "--repo=https://user:pw@git.example.org/r")

    assert "credentials" in err
    assert "pw" not in err


def test_createproject_refuses_to_change_a_projects_repository_to_a_hostile_url():
    project = factories.make_project("demo")

    with pytest.raises(CommandError):
        call_command("createproject", "demo", "--name", "Demo", "--repo=ext::sh -c x")

    project.refresh_from_db()
    assert project.repo_url == "https://git.example.org/demo.git"


def add_project_in_admin(admin_client, repo_url):
    return admin_client.post(
        "/admin/registry/project/add/",
        {
            "slug": "demo",
            "name": "Demo",
            "repo_url": repo_url,
            "protected_branch": "main",
            "observers_required": "0",
            "rebuilds_required": "0",
            "environments-TOTAL_FORMS": "0",
            "environments-INITIAL_FORMS": "0",
        },
    )


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_the_admin_refuses_a_hostile_repository_url_as_a_form_error(admin_client, url):
    response = add_project_in_admin(admin_client, url)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["repo_url"]
    assert not Project.objects.exists()


def test_the_admin_accepts_a_public_repository_url(admin_client):
    response = add_project_in_admin(admin_client, "https://git.example.org/demo.git")

    assert response.status_code == 302
    assert Project.objects.get(slug="demo").repo_url == "https://git.example.org/demo.git"
