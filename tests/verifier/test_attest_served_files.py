"""A web release's served files, end to end: ``attest --served-files`` signs the list of a build's static
directory, the site serving that directory verifies against it, and ``verify`` compares a copy."""

import base64
import hashlib
import json
import os

import pytest

from tests.verifier.factories import key_pair, random_commit
from tests.verifier.test_attest import attest_argv, run, verified_statement, write_key
from tests.verifier.test_bundle import (
    ARTIFACT,
    PROJECT,
    REPO_URL,
    MemoryLog,
    encode,
    log_entry,
    release_record,
)
from tests.verifier.test_served_fetch import FAST, SiteServer, page
from verifier.attest import attest
from verifier.cli import main
from verifier.command import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from verifier.digest import sha256_bytes
from verifier.dsse import envelope_to_json
from verifier.reasons import Result
from verifier.served import compare_served, fetch_served, served_files_of_directory
from verifier.statement import ServedFile

INLINE = "boot();"
INLINE_CSP = "sha256-" + base64.b64encode(hashlib.sha256(INLINE.encode()).digest()).decode()
FILES = {"app.js": b"app()", "css/site.css": b"body{}", "js/vendor/lib.js": b"lib()"}


@pytest.fixture
def build(tmp_path):
    root = tmp_path / "static"
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_attest_lists_every_file_and_the_site_serving_them_verifies(tmp_path, build):
    pair = key_pair()
    key = write_key(tmp_path, pair.private_key)
    out = tmp_path / "envelope.json"
    argv = attest_argv(tmp_path / "static" / "app.js", key, "--out", str(out))
    argv += ["--served-files", str(build), "--served-base", "/static/", "--inline-script", INLINE_CSP]
    assert run(argv) == 0

    signed = verified_statement(out, pair.public_key)
    assert signed.served_files == tuple(
        ServedFile(f"/static/{name}", hashlib.sha256(data).hexdigest())
        for name, data in sorted(FILES.items())
    )
    assert signed.inline_scripts == {hashlib.sha256(INLINE.encode()).hexdigest()}
    routes = {f"/static/{name}": (200, data, "text/javascript", ()) for name, data in FILES.items()}
    routes["/"] = page(
        *[f'<script src="/static/{name}"></script>' for name in FILES], f"<script>{INLINE}</script>"
    )
    with SiteServer(routes) as server:
        report = fetch_served(server.base_url, ["/"], allow_private=True, limits=FAST)
    verdict = compare_served(report, signed.served_files, signed.inline_scripts, inline_must_be_declared=True)
    assert verdict.result == Result.VERIFIED
    assert verdict.message == "3 of 3 files match; 1 of 1 inline scripts declared."


def test_a_release_of_components_lists_its_served_files_too(tmp_path, build):
    pair = key_pair()
    key = write_key(tmp_path, pair.private_key)
    out = tmp_path / "envelope.json"
    argv = attest_argv(f"static={build}", key, "--subject", "web=sha256:" + "ab" * 32, "--out", str(out))
    assert run([*argv, "--served-files", str(build), "--served-base", "/assets/"]) == 0

    signed = verified_statement(out, pair.public_key)
    assert [s.name for s in signed.subjects] == ["static", "web"]
    assert [f.path for f in signed.served_files] == [f"/assets/{name}" for name in sorted(FILES)]


def test_a_symbolic_link_in_the_served_directory_is_refused(build):
    os.symlink("/etc/passwd", build / "passwd.js")
    with pytest.raises(Exception, match="symbolic link"):
        served_files_of_directory(str(build), "/static/")


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        (["--served-base", "/static/"], "go together"),
        (["--served-files", "{build}", "--served-base", "static"], "served base must start with '/'"),
        (["--served-files", "{build}/app.js", "--served-base", "/static/"], "not a directory"),
        (["--served-files", "{build}", "--served-base", "/s/", "--inline-script", "sha256-abc"], "CSP hash"),
        (["--served-files", "{build}", "--served-base", "/s/", "--inline-script", "sha1-" + "A" * 28], "CSP"),
    ],
)
def test_bad_served_options_are_bad_input_in_one_line(tmp_path, build, capsys, extra, complaint):
    key = write_key(tmp_path, key_pair().private_key)
    argv = attest_argv(build / "app.js", key) + [value.format(build=build) for value in extra]
    assert run(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("attest: ") and complaint in err and err.count("\n") == 1


def served_bundle(tmp_path, build):
    """A release bundle whose envelope lists the served files of ``build`` under /static/."""
    log, signer, commit = MemoryLog(), key_pair(), random_commit()
    envelope = attest(
        sha256_bytes(ARTIFACT),
        name="app.tar.gz",
        commit=commit,
        repo_url=REPO_URL,
        ci_build_url="https://ci.example.org/runs/1",
        private_key=signer.private_key,
        served_files=served_files_of_directory(str(build), "/static/"),
        inline_scripts=[hashlib.sha256(INLINE.encode()).hexdigest()],
    )
    text = envelope_to_json(envelope)
    record = release_record(text, signer, commit)
    document = {
        "bundle_version": 1,
        "kind": "release",
        "release": record,
        "envelope": text,
        "signing_keys": [
            {"key_id": signer.key_id, "algorithm": "ed25519", "public_key_pem": signer.public_pem}
        ],
        "log": log.proof_section(log.append(log_entry("release", record))),
        "project": dict(PROJECT),
    }
    path = tmp_path / "bundle.json"
    path.write_bytes(encode(document))
    return path


def verify(capsys, path, *extra):
    code = main(["verify", str(path), "--no-state", *map(str, extra)])
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "served files:" in line)
    return code, line


def test_verify_shows_the_signed_list_and_compares_a_copy(tmp_path, build, capsys):
    path = served_bundle(tmp_path, build)

    code, line = verify(capsys, path)
    assert code == EXIT_OK
    assert line == "PASS  served files: the signed statement lists 3 served files and 1 inline scripts"

    code, line = verify(capsys, path, "--served-files", build, "--served-base", "/static/")
    assert code == EXIT_OK and line.startswith("PASS ") and "the 3 files under /static/ match" in line

    (build / "app.js").write_bytes(b"swapped()")
    code, line = verify(capsys, path, "--served-files", build, "--served-base", "/static/")
    assert code == EXIT_FAILED and line.startswith("FAIL ") and "/static/app.js has digest" in line

    (build / "app.js").unlink()
    code, line = verify(capsys, path, "--served-files", build, "--served-base", "/static/")
    assert code == EXIT_FAILED and "/static/app.js is in the signed list but not in" in line

    (build / "app.js").write_bytes(FILES["app.js"])
    (build / "extra.js").write_bytes(b"extra()")
    code, line = verify(capsys, path, "--served-files", build, "--served-base", "/static/")
    assert code == EXIT_FAILED and "/static/extra.js is in" in line and "not in the signed list" in line


def test_verify_refuses_half_of_the_served_options(tmp_path, build, capsys):
    path = served_bundle(tmp_path, build)
    assert main(["verify", str(path), "--no-state", "--served-files", str(build)]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == "verify: --served-files DIR and --served-base PATH go together\n"


def test_the_served_list_is_in_the_envelope_as_slsa_byproducts(tmp_path, build):
    envelope = json.loads(served_bundle(tmp_path, build).read_text())["envelope"]
    payload = json.loads(base64.b64decode(json.loads(envelope)["payload"]))
    marks = [b["annotations"]["vitrina.served"] for b in payload["predicate"]["runDetails"]["byproducts"]]
    assert marks == ["file", "file", "file", "inline-script"]
