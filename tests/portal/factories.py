"""Small factories for portal tests: real keys, real signatures, records made through the services."""

import itertools

from portal.registry import services
from portal.registry.models import ApiToken, Environment, Project
from portal.transparency import services as transparency
from portal.transparency.models import LogEntry
from verifier import dsse, statement
from verifier.digest import sha256_bytes
from verifier.keys import generate_private_key

_counter = itertools.count(1)


def make_project(slug=None, **fields):
    n = next(_counter)
    slug = slug or f"project-{n}"
    defaults = {
        "name": slug.replace("-", " ").title(),
        "repo_url": f"https://git.example.org/{slug}.git",
        "protected_branch": "main",
    }
    defaults.update(fields)
    return Project.objects.create(slug=slug, **defaults)


def make_environment(project, name="production", live_url=None, **fields):
    live_url = live_url or f"https://{project.slug}.example.org/.well-known/vitrina/deployment"
    return Environment.objects.create(project=project, name=name, live_url=live_url, **fields)


def make_key(project, algorithm="ed25519", **fields):
    """A fresh private key whose public half the project trusts. Returns (private key, SigningKey)."""
    private_key = generate_private_key(algorithm)
    signing_key, _ = services.add_signing_key(project, private_key.public_key.pem, **fields)
    return private_key, signing_key


def make_token(project, name="ci"):
    """Returns (ApiToken, raw token string)."""
    return ApiToken.issue(project, name)


def fake_commit(n=None):
    n = next(_counter) if n is None else n
    return f"{n:040x}"


def make_envelope(
    private_key,
    *,
    artifact=b"artifact",
    commit=None,
    repo_url="https://git.example.org/x.git",
    ci_build_url="https://ci.example.org/runs/1",
    artifact_name="app.tar.gz",
    served_files=(),
    inline_scripts=(),
    build=None,
):
    """A DSSE envelope (dict) over an in-toto statement for ``artifact``'s bytes, listing the
    ``served_files`` (``statement.ServedFile``) and ``inline_scripts`` of a web release if given."""
    doc = statement.build_statement(
        artifact_name=artifact_name,
        artifact_digest=sha256_bytes(artifact),
        repo_uri=repo_url,
        commit=commit or fake_commit(),
        ci_build_url=ci_build_url,
        served_files=served_files,
        inline_scripts=inline_scripts,
        build=build,
    )
    return dsse.sign_envelope(statement.statement_to_payload(doc), private_key)


def make_release(
    project, private_key, version=None, *, artifact=None, commit=None, token=None, user=None, **statement
):
    """A release registered through the service; ``statement`` goes to ``make_envelope`` (served files)."""
    version = version or f"1.0.{next(_counter)}"
    artifact = artifact if artifact is not None else f"{project.slug}-{version}".encode()
    envelope = make_envelope(
        private_key, artifact=artifact, commit=commit, repo_url=project.repo_url, **statement
    )
    release, _ = services.register_release(project, envelope, version=version, token=token, user=user)
    return release


def make_deployment(environment, release, **fields):
    return services.record_deployment(environment, release, **fields)


def make_deployed_release(project, version, *environments):
    """A release of ``version`` signed with a newly trusted key, deployed to each of ``environments``."""
    private_key, _ = make_key(project)
    release = make_release(project, private_key, version)
    for environment in environments:
        make_deployment(environment, release)
    return release


def make_note(project, environment=None, *, kind="maintenance", text="Mantenimiento programado", **fields):
    """An operator's public note, posted through the service (so it is logged)."""
    return services.post_note(project, environment=environment, kind=kind, text=text, **fields)


# --- keyless releases: a real Sigstore bundle made by GitHub Actions (see its README) ----------------

SIGSTORE_REPOSITORY = "https://github.com/malancas/attest-demo"
SIGSTORE_IDENTITY = {
    "issuer": "https://token.actions.githubusercontent.com",
    "repository": SIGSTORE_REPOSITORY,
    "workflow": "https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml@*",
    "ref": "refs/heads/main",
}


def sigstore_testdata(name):
    """A file of the shared Sigstore test data, as bytes; a failure under CI and a skip elsewhere when
    it is missing."""
    from tests.conftest import SHARED_TESTDATA
    from tests.helpers.needs import missing

    path = SHARED_TESTDATA / "sigstore" / name
    if not path.is_file():
        missing(f"the Sigstore test data {path} is missing")
    return path.read_bytes()


def make_keyless_project(slug="attest-demo", *, trusted=True, **identity):
    """A project built from the bundle's repository that trusts the identity its README describes (each
    part replaceable by a keyword), or none when not ``trusted``."""
    project = make_project(slug, repo_url=SIGSTORE_REPOSITORY)
    if trusted:
        services.add_identity(project, **{**SIGSTORE_IDENTITY, **identity})
    return project


def sequenced_entries():
    """The log's entries once every committed entry has its index (``services.integrate``): what the log
    holds a second after a record's transaction, and what the API's answer to a registration names."""
    transparency.integrate()
    return LogEntry.objects.all()
