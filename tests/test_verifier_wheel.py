"""The verifier as people install it: the ``vitrina-verifier`` wheel, in a clean virtualenv.

The wheel is built from ``packaging/verifier`` (the same ``verifier/`` sources the portal uses), installed
with pip into a new venv with nothing else, and run from a directory outside the repository with
``PYTHONPATH`` unset, so nothing can come from the source tree: ``vitrina-verify --help``, a real
``vitrina-verify verify`` of a proof bundle the portal served, and the verifier's own test suite.
"""

import email
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.portal import factories

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = b"demo 2.0.0 artifact"
# Not run against the wheel: test_types runs mypy over the source tree (the wheel's files are shown to be
# byte-identical to it below), and the fuzzing would only repeat the source tree's run on the same bytes.
SOURCE_ONLY_TESTS = {"test_types.py", "test_fuzz_parsers.py"}


def clean_env():
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def pip(bin_dir, command, *args):
    """This suite's pip acting on the venv (``--python``): the venv needs no pip of its own."""
    quiet = ["-q", "--no-compile"] if command == "install" else []
    python = str(bin_dir / "python")
    return run([sys.executable, "-m", "pip", "--python", python, command, *quiet, *args], cwd=bin_dir.parent)


def run(argv, cwd, timeout=300):
    return subprocess.run(argv, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    built = run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            "packaging/verifier",
        ],
        cwd=ROOT,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("vitrina_verifier-*.whl")
    return path


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel):
    """A new virtualenv holding the wheel and what pip resolves for it, nothing else."""
    home = tmp_path_factory.mktemp("venv")
    created = run([sys.executable, "-m", "venv", "--without-pip", str(home / "env")], cwd=home)
    assert created.returncode == 0, created.stderr
    bin_dir = home / "env" / "bin"
    installed = pip(bin_dir, "install", str(wheel))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return bin_dir


def test_the_wheel_holds_the_verifier_package_only_byte_for_byte(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        packaged = {name: archive.read(name) for name in names if not name.startswith("vitrina_verifier-")}
        (metadata_name,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(metadata_name))
        (entry_points_name,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        entry_points = archive.read(entry_points_name).decode()

    source = {
        path.relative_to(ROOT).as_posix(): path.read_bytes()
        for path in (ROOT / "verifier").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert packaged == source
    assert metadata["Name"] == "vitrina-verifier"
    requires = metadata.get_all("Requires-Dist")
    assert [r for r in requires if "extra ==" not in r] == ["cryptography<51,>=43"]
    assert [r.split(";")[0].strip() for r in requires if "extra ==" in r] == ["sigstore<5,>=4.5"]
    assert metadata.get_all("Provides-Extra") == ["sigstore"]
    assert "vitrina-verify = verifier.cli:main" in entry_points


def test_pip_installs_cryptography_and_a_working_vitrina_verify(venv, tmp_path):
    listed = pip(venv, "list", "--format=freeze")
    names = {line.split("==")[0].lower() for line in listed.stdout.split()}
    assert {"vitrina-verifier", "cryptography"} <= names
    assert not names & {"django", "vitrina", "sigstore", "rfc8785"}

    helped = run([str(venv / "vitrina-verify"), "--help"], cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: vitrina-verify ")
    for command in ("verify", "attest", "publish", "observe", "rebuild", "monitor"):
        assert command in helped.stdout

    where = run([str(venv / "python"), "-m", "verifier", "--version"], cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    imported = run([str(venv / "python"), "-c", "import verifier; print(verifier.__file__)"], cwd=tmp_path)
    assert imported.stdout.startswith(str(venv.parent)), imported.stdout


def test_installed_vitrina_verify_passes_a_bundle_the_portal_served(venv, tmp_path, client, db, log_key_file):
    project = factories.make_project("demo")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.0.0", artifact=ARTIFACT)
    response = client.get(f"/api/v1/releases/{release.pk}/bundle")
    assert response.status_code == 200
    (tmp_path / "bundle.json").write_bytes(response.content)
    (tmp_path / "demo-2.0.0.tar.gz").write_bytes(ARTIFACT)
    log_key = client.get("/api/v1/log/").json()["verifier_key"]

    verified = run(
        [str(venv / "vitrina-verify"), "verify", "bundle.json", "--log-key", log_key,
         "--artifact", "demo-2.0.0.tar.gz", "--no-state"],
        cwd=tmp_path,
    )  # fmt: skip

    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "PASS  artifact: demo-2.0.0.tar.gz has the signed digest" in verified.stdout
    assert "RESULT: verified." in verified.stdout

    (tmp_path / "demo-2.0.0.tar.gz").write_bytes(ARTIFACT + b"tampered")
    refused = run(
        [str(venv / "vitrina-verify"), "verify", "bundle.json", "--log-key", log_key,
         "--artifact", "demo-2.0.0.tar.gz", "--no-state"],
        cwd=tmp_path,
    )  # fmt: skip
    assert refused.returncode == 1, refused.stdout + refused.stderr


def copy_verifier_suite(into):
    """tests/verifier and the helpers it imports, under a root with no ``verifier`` package in it."""
    tests = into / "tests"
    ignore = shutil.ignore_patterns("__pycache__", *SOURCE_ONLY_TESTS)
    shutil.copytree(ROOT / "tests" / "verifier", tests / "verifier", ignore=ignore)
    shutil.copytree(ROOT / "tests" / "helpers", tests / "helpers", ignore=ignore)
    shutil.copy(ROOT / "tests" / "__init__.py", tests / "__init__.py")
    # tests/conftest.py sets up Django for the portal's tests; the verifier's need only the servers.
    (tests / "conftest.py").write_text(
        "from pathlib import Path\n\n"
        'pytest_plugins = ["tests.helpers.liveserver", "tests.helpers.gitserver"]\n'
        "ROOT = Path(__file__).resolve().parent.parent\n"
        'SHARED_TESTDATA = ROOT.parent / "shared" / "testdata"\n'
    )
    (into / "pytest.ini").write_text("[pytest]\naddopts = -ra -p no:cacheprovider\n")
    # Test vectors are found beside the repository (tests/verifier/test_merkle.py), here beside the copy.
    if (ROOT.parent / "shared").exists():
        (into.parent / "shared").symlink_to(ROOT.parent / "shared")


def test_the_verifiers_tests_pass_against_the_installed_wheel(venv, wheel, tmp_path):
    installed = pip(
        venv,
        "install",
        f"{wheel}[sigstore]",
        "pytest>=8,<10",
        "hypothesis>=6.100,<7",
        "securesystemslib>=1.0,<2",
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    suite = tmp_path / "suite"
    copy_verifier_suite(suite)
    assert not (suite / "verifier").exists()

    tested = run([str(venv / "python"), "-m", "pytest", "-q", "-x", "tests/verifier"], cwd=suite, timeout=600)

    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-2000:]
    assert " passed" in tested.stdout
