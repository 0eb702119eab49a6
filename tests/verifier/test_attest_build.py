"""``attest --build-command``: the signed statement says how anyone rebuilds the release, and where the
build leaves each artifact (its path under the current directory, the repository's root in CI)."""

import pytest

from tests.verifier.test_attest import attest_argv, run, verified_statement, write_key
from verifier.command import EXIT_BAD_INPUT, EXIT_OK
from verifier.keys import generate_private_key
from verifier.statement import BuildInstructions

IMAGE = "sha256:" + "ab" * 32


@pytest.fixture
def repository(tmp_path, monkeypatch):
    """A checkout with two built artifacts under dist/, as the current directory."""
    root = tmp_path / "repo"
    (root / "dist").mkdir(parents=True)
    (root / "dist" / "app.tar").write_bytes(b"app")
    (root / "dist" / "web.tar").write_bytes(b"web")
    monkeypatch.chdir(root)
    return root


def signed_build(tmp_path, *argv):
    private_key = generate_private_key()
    out = tmp_path / "envelope.json"
    assert run([*argv, "--key", str(write_key(tmp_path, private_key)), "--out", str(out)]) == EXIT_OK
    return verified_statement(out, private_key.public_key)


def attest_components(*extra):
    return [
        "attest",
        "--commit",
        "0" * 40,
        "--repo",
        "https://git.example.org/demo.git",
        "--ci-url",
        "x",
        *extra,
    ]


def test_one_artifact_records_the_command_the_environment_and_its_path(tmp_path, repository):
    signed = signed_build(
        tmp_path,
        *attest_components("--artifact", "dist/app.tar", "--build-command", "make dist"),
        "--build-env",
        "PYTHON=3.12",
        "--build-env",
        "IMAGE=python@" + IMAGE,
    )

    assert signed.build == BuildInstructions(
        "make dist", {"PYTHON": "3.12", "IMAGE": "python@" + IMAGE}, {"app.tar": "dist/app.tar"}
    )
    assert signed.raw["predicate"]["buildDefinition"]["externalParameters"]["buildOutputs"] == {
        "app.tar": "dist/app.tar"
    }


def test_an_absolute_path_inside_the_checkout_is_recorded_relative_to_it(tmp_path, repository):
    signed = signed_build(
        tmp_path,
        *attest_components("--artifact", f"app={repository / 'dist' / 'app.tar'}", "--build-command", "make"),
        "--artifact",
        "web=./dist/../dist/web.tar",
    )
    assert signed.build is not None
    assert signed.build.outputs == {"app": "dist/app.tar", "web": "dist/web.tar"}


def test_an_artifact_outside_the_checkout_and_a_subject_get_no_output_path(tmp_path, repository):
    elsewhere = tmp_path / "elsewhere.tar"
    elsewhere.write_bytes(b"elsewhere")
    signed = signed_build(
        tmp_path,
        *attest_components(
            "--artifact",
            "app=dist/app.tar",
            "--artifact",
            f"other={elsewhere}",
            "--subject",
            f"image={IMAGE}",
        ),
        "--build-command",
        "make",
    )
    assert signed.build is not None
    assert signed.build.outputs == {"app": "dist/app.tar"}
    assert [subject.name for subject in signed.subjects] == ["app", "other", "image"]


def test_without_a_build_command_the_statement_has_no_instructions(tmp_path, repository):
    signed = signed_build(
        tmp_path, *attest_components("--artifact", "app=dist/app.tar", "--artifact", "web=dist/web.tar")
    )
    assert signed.build is None
    assert "buildCommand" not in signed.raw["predicate"]["buildDefinition"]["externalParameters"]


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        (["--build-env", "PYTHON=3.12"], "attest: --build-env needs --build-command\n"),
        (["--build-command", "  "], "attest: --build-command: the command is empty\n"),
        (
            ["--build-command", "make", "--build-env", "PYTHON"],
            "attest: --build-env 'PYTHON': give NAME=VALUE\n",
        ),
        (
            ["--build-command", "make", "--build-env", "A=1", "--build-env", "A=2"],
            "attest: --build-env: 'A' is given twice\n",
        ),
        (
            ["--build-command", "x" * 5000],
            "attest: predicate.buildDefinition.externalParameters.buildCommand",
        ),
    ],
)
def test_bad_build_options_are_bad_input_in_one_line(tmp_path, repository, capsys, extra, complaint):
    key = write_key(tmp_path, generate_private_key())
    out = tmp_path / "envelope.json"
    assert run(attest_argv("dist/app.tar", key, "--out", str(out), *extra)) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith(complaint) and err.count("\n") == 1
    assert not out.exists()
