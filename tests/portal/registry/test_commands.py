"""The operators' commands: createproject, addenvironment, addkey, revokekey, createtoken."""

import io

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError

from portal.registry.models import ApiToken, Environment, Project, SigningKey
from tests.portal import factories
from verifier.keys import generate_private_key

pytestmark = pytest.mark.django_db


def run(*args):
    """Run a command; returns (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def project():
    return factories.make_project("city-portal")


@pytest.fixture
def pem_file(tmp_path):
    path = tmp_path / "cosign.pub"
    private_key = generate_private_key("ecdsa-p256")
    path.write_text(private_key.public_key.pem)
    return path, private_key.public_key


class TestCreateproject:
    def test_creates_a_project(self):
        out, _ = run(
            "createproject", "city-portal", "--name", "City portal", "--repo", "https://git.example.org/c.git"
        )

        project = Project.objects.get(slug="city-portal")
        assert (project.name, project.repo_url, project.protected_branch) == (
            "City portal",
            "https://git.example.org/c.git",
            "main",
        )
        assert out.startswith("Created project 'city-portal'")

    def test_running_it_again_updates_what_is_given_and_keeps_the_rest(self):
        run(
            "createproject",
            "demo",
            "--name",
            "Demo",
            "--repo",
            "https://a.example/r.git",
            "--branch",
            "release",
            "--description",
            "First.",
        )

        out, _ = run("createproject", "demo", "--name", "Demo 2", "--repo", "https://b.example/r.git")

        project = Project.objects.get()
        assert (project.name, project.repo_url) == ("Demo 2", "https://b.example/r.git")
        assert (project.protected_branch, project.description) == ("release", "First.")
        assert out.startswith("Updated project 'demo'")

    def test_invalid_slug_is_one_line_naming_the_field(self):
        with pytest.raises(CommandError, match=r"^slug: ") as caught:
            run("createproject", "Not A Slug", "--name", "X", "--repo", "https://a.example/r.git")

        assert "\n" not in str(caught.value)
        assert not Project.objects.exists()


class TestAddenvironment:
    def test_adds_an_environment_and_updates_it_when_run_again(self, project):
        out, _ = run("addenvironment", "city-portal", "production", "--url", "https://city.example.org/live")
        assert out.startswith("Created environment city-portal/production: https://city.example.org/live")
        assert "checked every 60 s" in out

        run(
            "addenvironment",
            "city-portal",
            "production",
            "--url",
            "https://city.example.org/v2",
            "--interval",
            "30",
        )

        environment = Environment.objects.get()
        assert (environment.live_url, environment.check_interval) == ("https://city.example.org/v2", 30)

    def test_unknown_project_is_a_one_line_error(self):
        with pytest.raises(CommandError, match=r"^There is no project 'atlantis'\.$"):
            run("addenvironment", "atlantis", "production", "--url", "https://a.example/live")

    @pytest.mark.parametrize(
        ("args", "field"),
        [
            (["--url", "not a url"], "live_url"),
            (["--url", "https://a.example", "--interval", "1"], "check_interval"),
        ],
    )
    def test_invalid_values_are_refused(self, project, args, field):
        with pytest.raises(CommandError, match=rf"^{field}: "):
            run("addenvironment", "city-portal", "production", *args)

        assert not Environment.objects.exists()


class TestAddkey:
    def test_trusts_the_key_and_prints_only_its_id(self, project, pem_file):
        path, public_key = pem_file

        out, _ = run("addkey", "city-portal", str(path), "--label", "cosign")

        assert out == public_key.key_id + "\n"
        key = SigningKey.objects.get()
        assert (key.key_id, key.algorithm, key.label) == (public_key.key_id, "ecdsa-p256", "cosign")
        assert factories.sequenced_entries().filter(kind="key_added").count() == 1

    def test_adding_the_same_key_again_changes_nothing(self, project, pem_file):
        path, public_key = pem_file
        run("addkey", "city-portal", str(path))

        out, err = run("addkey", "city-portal", str(path))

        assert out == public_key.key_id + "\n"
        assert "already trusts" in err
        assert SigningKey.objects.count() == 1
        assert factories.sequenced_entries().filter(kind="key_added").count() == 1

    def test_missing_file_is_a_one_line_error(self, project, tmp_path):
        with pytest.raises(CommandError, match=r"^Cannot read .*nope\.pub: No such file or directory\.$"):
            run("addkey", "city-portal", str(tmp_path / "nope.pub"))

    def test_file_that_is_not_a_supported_key_is_refused(self, project, tmp_path):
        path = tmp_path / "key.pem"
        path.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")

        with pytest.raises(CommandError, match=r"key\.pem: "):
            run("addkey", "city-portal", str(path))

        assert not SigningKey.objects.exists()

    def test_huge_file_is_refused_unread(self, project, tmp_path):
        path = tmp_path / "big.pem"
        path.write_bytes(b"A" * 100_000)

        with pytest.raises(CommandError, match="not a PEM public key"):
            run("addkey", "city-portal", str(path))


class TestRevokekey:
    def test_revokes_the_key_named_by_a_prefix_once(self, project):
        _, key = factories.make_key(project)

        out, _ = run("revokekey", "city-portal", key.key_id[:8].upper())
        again, _ = run("revokekey", "city-portal", key.key_id[:8])

        assert out.startswith(f"Revoked key {key.key_id} of 'city-portal' at ")
        assert "already revoked" in again
        assert SigningKey.objects.get().revoked_at is not None
        assert factories.sequenced_entries().filter(kind="key_revoked").count() == 1

    def test_unknown_prefix_lists_the_projects_keys(self, project):
        _, key = factories.make_key(project)
        prefix = "0000" if not key.key_id.startswith("0000") else "ffff"

        with pytest.raises(CommandError, match=f"no key starting with {prefix} \\(keys: {key.short_id}\\)"):
            run("revokekey", "city-portal", prefix)

    def test_ambiguous_prefix_revokes_nothing(self, project):
        # Real ids sharing a 4-character prefix would take hundreds of keys; set two ids to share one.
        for n in range(2):
            _, key = factories.make_key(project)
            SigningKey.objects.filter(pk=key.pk).update(key_id=f"abcd{n}" + key.key_id[5:])

        with pytest.raises(
            CommandError, match=r"abcd matches 2 keys of 'city-portal' .*; give more of it\.$"
        ):
            run("revokekey", "city-portal", "abcd")

        assert not SigningKey.objects.exclude(revoked_at=None).exists()

    def test_prefix_must_be_hex_and_long_enough(self, project):
        with pytest.raises(CommandError, match="must be 4 to 64 hex characters"):
            run("revokekey", "city-portal", "ab")


class TestCreatetoken:
    def test_prints_only_the_raw_token_which_authenticates(self, project):
        out, err = run("createtoken", "city-portal", "--name", "GitHub Actions")

        raw = out.strip()
        assert out == raw + "\n"
        assert raw.startswith(ApiToken.PREFIX)
        token = ApiToken.authenticate(raw)
        assert (token.project, token.name) == (project, "GitHub Actions")
        assert raw not in err and "not shown again" in err
        assert ApiToken.objects.get().token_hash != raw

    def test_each_run_issues_a_new_token(self, project):
        first, _ = run("createtoken", "city-portal")
        second, _ = run("createtoken", "city-portal")

        assert first != second
        assert ApiToken.objects.filter(project=project, name="ci").count() == 2

    def test_unknown_project_is_a_one_line_error(self):
        with pytest.raises(CommandError, match=r"^There is no project 'atlantis'\.$"):
            run("createtoken", "atlantis")

    @pytest.mark.parametrize("name", ["  ", "x" * 101])
    def test_a_blank_or_overlong_name_is_a_one_line_error_and_issues_nothing(self, project, name):
        with pytest.raises(CommandError, match=r"^--name must be 1 to 100 characters\.$"):
            run("createtoken", "city-portal", "--name", name)
        assert not ApiToken.objects.exists()


def test_errors_reach_the_operator_as_one_line_without_a_traceback(capsys):
    command = load_command_class("portal.registry", "createtoken")

    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(["manage.py", "createtoken", "atlantis"])

    captured = capsys.readouterr()
    assert exited.value.code == 1
    assert captured.out == ""
    assert captured.err == "CommandError: There is no project 'atlantis'.\n"
