"""Verify commands: each release's and deployment's page gives the commands for exactly that one, which,
pasted into a shell, check it; the "Verify it yourself" page explains the steps in general and links to
them, prefilling no one release."""

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


def commands(page_html, comments=False):
    """Every command of every command block on the page, as a volunteer would copy it, one per item
    (a line ending in a backslash continues on the next, as in a shell); comment lines only if asked."""
    blocks = re.findall(r"<pre class=\"command\"><code>(.*?)</code></pre>", page_html, re.S)
    text = "\n".join(html.unescape(block) for block in blocks)
    lines = [line for line in re.sub(r" \\\n\s*", " ", text).splitlines() if line.strip()]
    return [line for line in lines if comments or not line.startswith("#")]


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


def test_every_verifier_command_on_the_pages_is_accepted_by_the_verifier(client, published):
    release, environment = published
    deployment = release.deployments.get()
    for url in ("/verify/", release.get_absolute_url(), deployment.get_absolute_url()):
        found = verifier_commands(commands(client.get(url).content.decode()))
        assert found, url
        for line in found:
            args = shlex.split(line)[3:]
            if args != ["--help"]:
                build_parser().parse_args(args)


def test_the_release_page_gives_the_commands_for_that_release(client, published):
    release, _ = published
    lines = commands(client.get(release.get_absolute_url()).content.decode())
    key = verifier_key()
    assert lines == [
        f"curl -fsSL -o bundle.json https://vitrina.example.org/api/v1/releases/{release.pk}/bundle",
        f".venv/bin/python -m verifier verify bundle.json --artifact app.tar.gz "
        f"--repo {release.project.repo_url} --log-key '{key}'",
    ]


def test_the_deployment_page_gives_the_commands_for_that_deployment_and_its_server(client, published):
    release, environment = published
    deployment = release.deployments.get()
    lines = commands(client.get(deployment.get_absolute_url()).content.decode())
    assert lines[0] == (
        f"curl -fsSL -o bundle.json https://vitrina.example.org/api/v1/deployments/{deployment.pk}/bundle"
    )
    assert lines[2:] == [f"curl -s {environment.live_url}", "sha256sum app.tar.gz"]


def test_the_command_comments_are_in_the_readers_language(client, published):
    release, _ = published
    spanish = commands(
        client.get(release.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="es").content.decode(), comments=True
    )
    english = commands(
        client.get(release.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode(), comments=True
    )
    assert spanish[0] == "# 1. Descargue el paquete de pruebas"
    assert english[0] == "# 1. Download the proof bundle"
    assert [line for line in spanish if not line.startswith("#")] == [
        line for line in english if not line.startswith("#")
    ]


def test_copy_buttons_are_labelled_in_the_readers_language_and_announced(client, published):
    release, _ = published
    page = client.get(release.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert '<div class="command-block" data-copy="Copiar" data-copied="Copiado">' in page
    assert '<span class="copy-status" aria-live="polite"></span>' in page
    assert '<script src="/static/js/copy.js" defer></script>' in page
    assert "<button" not in page.split('<div class="command-block"')[1].split("</div>")[0]  # added by copy.js


@pytest.mark.parametrize("which", ["release", "deployment"])
def test_pasted_into_a_shell_the_page_commands_verify_it(client, published, tmp_path, which):
    """Run a page's commands as written, in a fresh folder, with downloads served by the test client."""
    release, _ = published
    page_url = (
        release.get_absolute_url() if which == "release" else release.deployments.get().get_absolute_url()
    )
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
    for line in commands(client.get(page_url).content.decode()):
        words = shlex.split(line)
        if words[:2] == ["curl", "-s"]:
            continue  # asks the live server, which this test has none of
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
    assert output.count("RESULT: verified") == 1
    assert re.search(r"^PASS  (release )?artifact: app.tar.gz has the signed digest", output, re.M)
    assert re.search(r"^PASS  (release )?repository: commit \w+ is on 'main'", output, re.M)
    if which == "deployment":
        assert hashlib.sha256(ARTIFACT).hexdigest() in output  # sha256sum, to compare with the live answer


def test_the_verify_page_prefills_no_release_and_links_to_each_releases_commands(client, published):
    release, environment = published
    page = html.unescape(client.get("/verify/").content.decode())
    assert f"/api/v1/releases/{release.pk}/bundle" not in page
    assert environment.live_url not in page
    assert release.source_commit not in page
    assert f'href="{release.get_absolute_url()}#verify"' in page
    assert "change the release number" not in page
    assert "under “Check it yourself”" in page


def test_the_verify_page_tells_the_truth_about_where_the_commands_are(client, db):
    page = html.unescape(client.get("/verify/").content.decode())
    assert "in the download address" not in page
    assert "Open the page of the release or deployment you want to check" in page
    assert "No release has been published yet." in page


def test_the_verify_page_commands_still_parse_without_any_release(client, db):
    lines = commands(client.get("/verify/").content.decode())
    assert verifier_commands(lines)
    for line in verifier_commands(lines):
        args = shlex.split(line)[3:]
        if args != ["--help"]:
            build_parser().parse_args(args)


def test_without_the_source_setting_the_page_says_how_else_to_get_the_verifier(client, db, settings):
    settings.VITRINA_SOURCE_URL = ""
    for language in ("en", "es"):
        page = html.unescape(client.get("/verify/", HTTP_ACCEPT_LANGUAGE=language).content.decode())
        assert "VITRINA_SOURCE_URL" not in page
        clones = [line for line in commands(page) if line.startswith("git clone")]
        assert not [line for line in clones if line.endswith(" vitrina")]
    page = html.unescape(client.get("/verify/").content.decode())
    assert "This portal does not say where its source code is published. Ask its operators" in page
    assert ".venv/bin/pip install cryptography" in page
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
    line = verifier_commands(commands(client.get(release.get_absolute_url()).content.decode()))[0]
    assert shlex.split(line)[shlex.split(line).index("--artifact") + 1] == "$(touch pwned); x.tgz"


def test_the_page_says_what_it_cannot_prove_and_needs_only_cryptography(client, db):
    page = client.get("/verify/").content.decode()
    assert ".venv/bin/pip install cryptography" in page
    assert "a server that lies can fool that check" in page


def test_without_the_log_key_the_pages_still_open(client, published, settings, tmp_path):
    release, _ = published
    settings.VITRINA_LOG_KEY_FILE = str(tmp_path / "missing.key")
    response = client.get("/verify/")
    assert response.status_code == 200
    assert "The key is unavailable right now" in response.content.decode()
    page = client.get(release.get_absolute_url()).content.decode()
    assert "does not pin the log" in page
    assert "--log-key" not in " ".join(verifier_commands(commands(page)))
