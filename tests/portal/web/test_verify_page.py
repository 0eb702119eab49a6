"""The "Verify it yourself" page gives commands that work: pasted into a shell, they check a real release."""

import hashlib
import html
import os
import re
import shlex
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from portal.transparency.signing import verifier_key
from tests.helpers.gitserver import make_repo
from tests.portal import factories
from verifier.cli import build_parser

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
ARTIFACT = b"city portal 2.4.1, the released tarball"


def commands(page_html):
    """Every command of every command block on the page, as a volunteer would copy it, one per item
    (a line ending in a backslash continues on the next, as in a shell)."""
    blocks = re.findall(r"<pre class=\"command\"><code>(.*?)</code></pre>", page_html, re.S)
    text = "\n".join(html.unescape(block) for block in blocks)
    return [line for line in re.sub(r" \\\n\s*", " ", text).splitlines() if line.strip()]


def verifier_commands(lines):
    return [line for line in lines if line.startswith(".venv/bin/python -m verifier ")]


@pytest.fixture
def published(tmp_path, log_key_file, settings):
    """A release built from a real local repository, deployed, with the log's key in place."""
    settings.SITE_URL = "https://vitrina.example.org"
    shas = make_repo(tmp_path / "city.git", commits=3)
    project = factories.make_project("city-portal", name="City Portal", repo_url=str(tmp_path / "city.git"))
    environment = factories.make_environment(project, "production")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.4.1", artifact=ARTIFACT, commit=shas[1])
    factories.make_deployment(environment, release)
    return release, environment


def test_every_verifier_command_on_the_page_is_accepted_by_the_verifier(client, published):
    lines = commands(client.get("/verify/").content.decode())
    found = verifier_commands(lines)
    assert len(found) == 3  # --help, the full check, the later consistency check
    for line in found:
        args = shlex.split(line)[3:]
        if args != ["--help"]:
            build_parser().parse_args(args)


def test_the_commands_are_filled_in_with_the_latest_deployed_release(client, published):
    release, environment = published
    lines = commands(client.get("/verify/").content.decode())
    key = verifier_key()
    assert (
        f"curl -fsSL -o bundle.json https://vitrina.example.org/api/v1/releases/{release.pk}/bundle" in lines
    )
    assert (
        f".venv/bin/python -m verifier verify bundle.json --artifact app.tar.gz "
        f"--repo {release.project.repo_url} --log-key '{key}'"
    ) in lines
    assert f"curl -s {environment.live_url}" in lines
    assert f"git clone {release.project.repo_url} source" in lines
    assert (
        f'git -C source merge-base --is-ancestor {release.source_commit} origin/main && echo "on the branch"'
    ) in lines
    assert (
        f".venv/bin/python -m verifier verify bundle.json --log-key '{key}' --portal https://vitrina.example.org"
    ) in lines
    assert f"<code>{key}</code>" in client.get("/verify/").content.decode()


def test_pasted_into_a_shell_the_commands_verify_the_release(client, published, tmp_path):
    """Run the page's commands as written, in a fresh folder, with downloads served by the test client."""
    release, _ = published
    work = tmp_path / "volunteer"
    work.mkdir()
    (work / ".venv").symlink_to(ROOT / ".venv")
    (work / "verifier").symlink_to(ROOT / "verifier")
    (work / "app.tar.gz").write_bytes(ARTIFACT)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "LC_ALL": "C",
    }
    outputs = []
    for line in commands(client.get("/verify/").content.decode()):
        words = shlex.split(line)
        if words[:2] == ["git", "clone"] and words[-1] == "vitrina" or words[0] in ("cd", "python3"):
            continue  # getting the verifier's source: the test runs the checked-out one
        if words[0] == ".venv/bin/pip" or words[:2] == ["curl", "-s"]:
            continue  # needs the network: installing cryptography, asking the live server
        if words[0] == "curl":
            response = client.get(urlsplit(words[-1]).path)
            assert response.status_code == 200
            (work / words[words.index("-o") + 1]).write_bytes(response.content)
            continue
        result = subprocess.run(
            ["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, (line, result.stdout, result.stderr)
        outputs.append(result.stdout)
    output = "\n".join(outputs)
    assert output.count("RESULT: verified") == 2
    assert "PASS  artifact" in output
    assert "PASS  repository" in output
    assert "on the branch" in output
    assert hashlib.sha256(ARTIFACT).hexdigest() in output  # sha256sum, to compare with the live answer


def test_without_any_release_the_commands_show_placeholders_the_verifier_still_parses(client, db):
    lines = commands(client.get("/verify/").content.decode())
    assert (
        ".venv/bin/python -m verifier verify bundle.json --artifact FILE --repo REPO_URL --log-key KEY"
        in lines
    )
    for line in verifier_commands(lines):
        args = shlex.split(line)[3:]
        if args != ["--help"]:
            build_parser().parse_args(args)


def test_the_source_repository_comes_from_the_setting_or_is_named_in_words(client, db, settings):
    settings.VITRINA_SOURCE_URL = ""
    page = html.unescape(client.get("/verify/").content.decode())
    assert "git clone VITRINA_SOURCE_URL vitrina" in page
    assert "the portal's public source repository" in page
    settings.VITRINA_SOURCE_URL = "https://code.example.org/vitrina.git"
    lines = commands(client.get("/verify/").content.decode())
    assert "git clone https://code.example.org/vitrina.git vitrina" in lines


def test_a_hostile_artifact_name_is_quoted_not_run(client, db, log_key_file):
    project = factories.make_project("odd")
    environment = factories.make_environment(project)
    private_key, _ = factories.make_key(project)
    envelope = factories.make_envelope(
        private_key, artifact=b"x", repo_url=project.repo_url, artifact_name="dist/$(touch pwned); x.tgz"
    )
    from portal.registry import services

    release, _ = services.register_release(project, envelope, version="1.0.0")
    factories.make_deployment(environment, release)
    line = verifier_commands(commands(client.get("/verify/").content.decode()))[1]
    assert shlex.split(line)[shlex.split(line).index("--artifact") + 1] == "$(touch pwned); x.tgz"


def test_the_page_says_what_it_cannot_prove_and_needs_only_cryptography(client, db):
    page = client.get("/verify/").content.decode()
    assert ".venv/bin/pip install cryptography" in page
    assert "a server that lies can fool that check" in page


def test_without_the_log_key_the_page_still_opens(client, db, settings, tmp_path):
    settings.VITRINA_LOG_KEY_FILE = str(tmp_path / "missing.key")
    response = client.get("/verify/")
    assert response.status_code == 200
    assert "The key is unavailable right now" in response.content.decode()
