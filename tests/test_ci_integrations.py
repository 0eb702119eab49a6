"""The CI integrations people paste, run as their CI system would run them, against a live portal.

``ci/github/action.yml`` (a composite Action): each ``run:`` step with ``bash --noprofile --norc -eo
pipefail``, the ``GITHUB_*``/``RUNNER_*`` variables and files a runner sets, ``INPUT_*`` for the inputs,
and the step's ``env:`` with its ``${{ inputs.* }}`` expressions filled in. ``ci/gitlab/vitrina.yml`` (a
GitLab CI template with ``spec: inputs``): its inputs interpolated as GitLab does, then the job's script
with the ``CI_*`` variables and the job's ``variables:``. Both install the verifier from this source tree
(packaging/verifier) with pip into a new venv, and must register the release and its deployment.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from portal.registry.models import Deployment, Release
from tests.portal.factories import (
    make_environment,
    make_key,
    make_keyless_project,
    make_project,
    make_token,
    sigstore_testdata,
)

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "ci" / "github" / "action.yml"
GITLAB_TEMPLATE = ROOT / "ci" / "gitlab" / "vitrina.yml"
COMMIT = "c0ffee" + "0" * 34
KEYLESS_COMMIT = "95baf27389e83e6a5c48f42e190d48d7abcea19e"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The verifier wheel, built once: the tests that do not test the Action's own install use it."""
    out = tmp_path_factory.mktemp("dist")
    argv = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)]
    built = subprocess.run(
        [*argv, "packaging/verifier"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("*.whl")
    return str(path)


def base_env(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["TMPDIR"] = str(tmp_path)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


class GitHubRunner:
    """Runs the composite Action's steps the way a GitHub runner does, in ``workspace``."""

    def __init__(self, tmp_path, inputs, secrets=()):
        self.workspace = tmp_path / "workspace"
        self.workspace.mkdir()
        self.temp = tmp_path / "runner-temp"
        self.temp.mkdir()
        self.files = {
            name: tmp_path / name.lower() for name in ("GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_ENV")
        }
        for path in self.files.values():
            path.touch()
        action = yaml.safe_load(ACTION.read_text())
        self.steps = action["runs"]["steps"]
        declared = action["inputs"]
        assert set(inputs) <= set(declared), set(inputs) - set(declared)
        self.inputs = {name: inputs.get(name, spec.get("default", "")) for name, spec in declared.items()}
        self.secrets = secrets

    def env(self):
        env = base_env(self.temp.parent)
        env |= {
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": "org/demo",
            "GITHUB_SHA": COMMIT,
            "GITHUB_RUN_ID": "4242",
            "GITHUB_REF_NAME": "v2.0.0",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_ACTION_PATH": str(ACTION.parent),
            "RUNNER_TEMP": str(self.temp),
            **{name: str(path) for name, path in self.files.items()},
            **{f"INPUT_{name.upper()}": value for name, value in self.inputs.items()},
        }
        added = self.files["GITHUB_PATH"].read_text().split()
        env["PATH"] = os.pathsep.join([*reversed(added), env["PATH"]])
        return env

    def expression(self, match):
        scope, _, name = match.group(1).strip().partition(".")
        if scope == "inputs":
            return self.inputs[name]
        if scope == "github" and name == "action_path":
            return str(ACTION.parent)
        raise AssertionError(f"the test runner does not know the expression {match.group(0)}")

    def run(self, only=None):
        for step in self.steps:
            assert "uses" not in step and step["shell"] == "bash", step
            if only and step["name"] != only:
                continue
            env = self.env()
            for name, value in step.get("env", {}).items():
                env[name] = re.sub(r"\$\{\{(.*?)\}\}", self.expression, str(value))
            script = self.temp / "step.sh"
            script.write_text(step["run"])
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=self.workspace, env=env, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            for secret in self.secrets:
                assert secret not in done.stdout + done.stderr
            if done.returncode:
                return done
        return done

    def outputs(self):
        return dict(line.split("=", 1) for line in self.files["GITHUB_OUTPUT"].read_text().splitlines())


@pytest.fixture
def keyed(live_server):
    project = make_project("demo", repo_url="https://github.com/org/demo.git")
    environment = make_environment(project, "production")
    private_key, _ = make_key(project)
    _, token = make_token(project)
    return {"url": live_server.url, "project": project, "environment": environment,
            "pem": private_key.private_pem(), "token": token}  # fmt: skip


def test_the_github_action_signs_several_artifacts_and_registers_release_and_deployment(keyed, tmp_path):
    runner = GitHubRunner(
        tmp_path,
        {
            "portal-url": keyed["url"],
            "token": keyed["token"],
            "version": "2.0.0",
            "environment": "production",
            "artifacts": "web=dist/web.tar.gz\n  worker=dist/worker.tar.gz  \n",
            "signing-key": keyed["pem"],
        },
        secrets=[keyed["token"]],
    )
    (runner.workspace / "dist").mkdir()
    (runner.workspace / "dist" / "web.tar.gz").write_bytes(b"web image")
    (runner.workspace / "dist" / "worker.tar.gz").write_bytes(b"worker image")

    done = runner.run()

    assert done.returncode == 0, done.stdout + done.stderr
    release = Release.objects.get(project=keyed["project"], version="2.0.0")
    assert release.source_commit == COMMIT
    assert release.ci_build_url == "https://github.com/org/demo/actions/runs/4242"
    deployment = Deployment.objects.get(environment=keyed["environment"])
    assert deployment.release == release
    assert deployment.pipeline_run_url == "https://github.com/org/demo/actions/runs/4242"
    assert runner.outputs()["release-url"].endswith(release.get_absolute_url())
    assert not list(runner.temp.glob("*key*")), "the signing key must not stay on the runner"


def test_the_github_action_publishes_the_bundle_of_attest_build_provenance(live_server, tmp_path, wheel):
    project = make_keyless_project()
    environment = make_environment(project, "production")
    _, token = make_token(project)
    bundle = tmp_path / "attestation.json"
    bundle.write_bytes(sigstore_testdata("reusable-workflow-attestation.sigstore.json"))
    runner = GitHubRunner(
        tmp_path,
        {"portal-url": live_server.url, "token": token, "version": "0.0.0", "environment": "production",
         "sigstore-bundle": str(bundle), "verifier": wheel},
    )  # fmt: skip

    done = runner.run()

    assert done.returncode == 0, done.stdout + done.stderr
    release = Release.objects.get(project=project, version="0.0.0")
    assert release.source_commit == KEYLESS_COMMIT
    assert Deployment.objects.get(environment=environment).release == release


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({}, "give sigstore-bundle, or artifacts and signing-key"),
        ({"artifacts": "app.tar.gz"}, "artifacts need signing-key"),
        ({"artifacts": "app.tar.gz", "sigstore-bundle": "b.json"}, "not both"),
    ],
)
def test_the_github_action_says_what_is_missing(tmp_path, inputs, message):
    runner = GitHubRunner(
        tmp_path, {"portal-url": "https://x.invalid", "token": "t", "version": "1", **inputs}
    )

    done = runner.run(only="Sign the artifacts with the project's key")

    assert done.returncode == 3
    assert message in done.stdout


def gitlab_job(inputs):
    """The template's job after GitLab's ``$[[ inputs.* ]]`` interpolation, and the inputs it declares."""
    text = GITLAB_TEMPLATE.read_text()
    header, _, body = text.partition("\n---\n")
    spec = yaml.safe_load(header)["spec"]["inputs"]
    missing = [name for name, field in spec.items() if "default" not in (field or {}) and name not in inputs]
    assert not missing, f"inputs without a default must be given: {missing}"
    values = {name: inputs.get(name, (field or {}).get("default")) for name, field in spec.items()}

    def interpolate(match):
        return str(values[match.group(1).strip().removeprefix("inputs.")])

    jobs = yaml.safe_load(re.sub(r"\$\[\[(.*?)\]\]", interpolate, body))
    return jobs["vitrina-publish"]


def test_the_gitlab_template_signs_and_registers_release_and_deployment(keyed, tmp_path, wheel):
    job = gitlab_job(
        {"portal-url": keyed["url"], "verifier": wheel,
         "artifacts": "dist/app.tar.gz", "environment": "production"}
    )  # fmt: skip
    project_dir = tmp_path / "project"
    (project_dir / "dist").mkdir(parents=True)
    (project_dir / "dist" / "app.tar.gz").write_bytes(b"app 3.1.0")
    key = tmp_path / "signing-key"  # a CI/CD variable of type File: GitLab gives its path
    key.write_text(keyed["pem"])
    env = base_env(tmp_path) | {
        "GITLAB_CI": "true",
        "CI": "true",
        "CI_COMMIT_TAG": "3.1.0",
        "CI_COMMIT_SHA": COMMIT,
        "CI_PROJECT_URL": "https://github.com/org/demo",
        "CI_PROJECT_DIR": str(project_dir),
        "CI_JOB_URL": "https://gitlab.example.org/org/demo/-/jobs/77",
        "CI_PIPELINE_URL": "https://gitlab.example.org/org/demo/-/pipelines/12",
        "VITRINA_TOKEN": keyed["token"],
        "VITRINA_SIGNING_KEY": str(key),
    }
    # GitLab expands variables inside the job's variables (the version's default is $CI_COMMIT_TAG).
    expand = lambda value: re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), str(value))  # noqa: E731
    env |= {name: expand(value) for name, value in job["variables"].items()}

    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", "\n".join(job["script"])],
        cwd=project_dir, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    assert keyed["token"] not in done.stdout + done.stderr
    release = Release.objects.get(project=keyed["project"], version="3.1.0")
    assert release.source_commit == COMMIT
    assert release.ci_build_url == "https://gitlab.example.org/org/demo/-/jobs/77"
    deployment = Deployment.objects.get(environment=keyed["environment"])
    assert deployment.release == release
    assert deployment.pipeline_run_url == "https://gitlab.example.org/org/demo/-/pipelines/12"
