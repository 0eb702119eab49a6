"""``python -m verifier verify``: what it prints, its exit codes, and the checkpoints it remembers."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers.liveserver import LiveServer
from tests.verifier.factories import key_pair, random_commit
from tests.verifier.test_bundle import MemoryLog, encode, release_document
from verifier.cli import EXIT_BAD_INPUT, EXIT_COULD_NOT_CHECK, EXIT_FAILED, EXIT_OK, main
from verifier.errors import CouldNotCheck
from verifier.reasons import Reason
from verifier.state import CheckpointStore, default_state_dir, fetch_consistency_proof

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def log():
    memory = MemoryLog()
    memory.append({"v": 1, "type": "key_added", "project": "demo"})
    return memory


@pytest.fixture
def state_dir(tmp_path):
    return tmp_path / "state"


def write(tmp_path, document, name="bundle.json"):
    path = tmp_path / name
    path.write_bytes(encode(document) if isinstance(document, dict) else document)
    return str(path)


def run(capsys, *args):
    code = main(["verify", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_good_bundle_exits_0_with_one_line_per_check(tmp_path, capsys, log, state_dir):
    path = write(tmp_path, release_document(log, key_pair(), random_commit()))
    code, out, err = run(capsys, path, "--log-key", log.verifier_key, "--state-dir", state_dir)
    assert code == EXIT_OK, out
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == [
        "PASS",
        "PASS",
        "SKIP",
        "SKIP",
        "PASS",
        "PASS",
        "PASS",
        "SKIP",
        "PASS",
        "PASS",
        "SKIP",
        "SKIP",
    ]
    assert lines[1].startswith("PASS  statement: ")
    assert lines[-1].startswith("RESULT: verified.")
    assert err == ""


def test_a_tampered_bundle_exits_1_and_names_the_failed_check(tmp_path, capsys, log):
    document = release_document(log, key_pair(), random_commit())
    document["release"]["version"] = "9.9.9"
    code, out, _ = run(capsys, write(tmp_path, document), "--no-state")
    assert code == EXIT_FAILED
    assert "FAIL  log entry: " in out
    assert out.splitlines()[-1] == "RESULT: FAILED. 1 check(s) failed: log entry"


def test_a_repository_that_cannot_be_fetched_exits_2(tmp_path, capsys, log):
    path = write(tmp_path, release_document(log, key_pair(), random_commit()))
    code, out, _ = run(capsys, path, "--no-state", "--repo", tmp_path / "absent.git")
    assert code == EXIT_COULD_NOT_CHECK
    assert "ERROR repository: " in out
    assert out.splitlines()[-1].startswith("RESULT: COULD NOT CHECK")


def test_a_failure_outranks_a_check_that_could_not_run(tmp_path, capsys, log):
    document = release_document(log, key_pair(), random_commit())
    document["release"]["version"] = "9.9.9"
    code, _, _ = run(capsys, write(tmp_path, document), "--no-state", "--repo", tmp_path / "absent.git")
    assert code == EXIT_FAILED


def truncated_hash(document):
    document["log"]["inclusion_proof"][0] = document["log"]["inclusion_proof"][0][:40]
    return document


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda d: b"this is not json", "not valid JSON"),
        (lambda d: {**d, "bundle_version": 2}, "bundle_version is 2"),
        (truncated_hash, "not a 32-byte hash"),
        (lambda d: {**d, "log": {**d["log"], "entry_b64": "%%%"}}, "not valid base64"),
        (lambda d: {**d, "envelope": 5}, "envelope must be a string"),
    ],
)
def test_bad_input_is_one_line_and_exits_3(tmp_path, capsys, log, damage, problem):
    document = damage(release_document(log, key_pair(), random_commit()))
    code, out, err = run(capsys, write(tmp_path, document), "--no-state")
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert err.count("\n") == 1 and problem in err and "Traceback" not in err


@pytest.mark.parametrize(
    "extra, problem",
    [
        (["--log-key", "not-a-key"], "--log-key"),
        (["--portal", "ftp://example.org"], "--portal"),
        (["--portal", "https://example.org/?x=1"], "--portal"),
        (["--portal", "https://[::1"], "--portal"),
        (["--portal", "https://example.org:99999"], "--portal"),
        (["--artifact", "/nonexistent/file"], "--artifact"),
    ],
)
def test_bad_arguments_exit_3(tmp_path, capsys, log, extra, problem):
    path = write(tmp_path, release_document(log, key_pair(), random_commit()))
    code, _, err = run(capsys, path, "--no-state", *extra)
    assert code == EXIT_BAD_INPUT
    assert err.count("\n") == 1 and problem in err


def test_a_missing_bundle_file_and_a_usage_error_exit_3(tmp_path, capsys):
    code, _, err = run(capsys, tmp_path / "absent.json")
    assert code == EXIT_BAD_INPUT and "cannot read" in err
    assert main(["verify"]) == EXIT_BAD_INPUT
    assert main(["frobnicate"]) == EXIT_BAD_INPUT


def test_the_log_key_can_be_read_from_a_file(tmp_path, capsys, log, state_dir):
    key_file = tmp_path / "log.pub"
    key_file.write_text(log.verifier_key + "\n")
    path = write(tmp_path, release_document(log, key_pair(), random_commit()))
    code, out, _ = run(capsys, path, "--log-key", key_file, "--state-dir", state_dir)
    assert code == EXIT_OK
    assert "WARNING" not in out


# --- Remembered checkpoints -----------------------------------------------------------------------------


def test_the_first_checkpoint_is_remembered_and_the_same_one_passes_again(tmp_path, capsys, log, state_dir):
    path = write(tmp_path, release_document(log, key_pair(), random_commit()))
    assert run(capsys, path, "--state-dir", state_dir)[0] == EXIT_OK
    assert CheckpointStore(state_dir).load("log.test/vitrina") is not None
    code, out, _ = run(capsys, path, "--state-dir", state_dir)
    assert code == EXIT_OK
    assert "same checkpoint as remembered" in out


def test_a_fork_of_the_same_size_is_reported_offline(tmp_path, capsys, log, state_dir):
    signer = key_pair()
    first = write(tmp_path, release_document(log, signer, random_commit()), "a.json")
    assert run(capsys, first, "--state-dir", state_dir)[0] == EXIT_OK
    fork = MemoryLog()
    fork.key, fork.verifier_key = log.key, log.verifier_key  # the same log key signs another history
    fork.append({"v": 1, "type": "key_added", "project": "other"})
    forked = write(tmp_path, release_document(fork, signer, random_commit()), "b.json")
    code, out, _ = run(capsys, forked, "--state-dir", state_dir)
    assert code == EXIT_FAILED
    assert "FAIL  history: the log has FORKED" in out


def test_a_smaller_or_larger_checkpoint_is_reported_as_unchecked_offline(tmp_path, capsys, log, state_dir):
    signer = key_pair()
    older = write(tmp_path, release_document(log, signer, random_commit()), "old.json")
    newer = write(tmp_path, release_document(log, signer, random_commit()), "new.json")
    assert run(capsys, newer, "--state-dir", state_dir)[0] == EXIT_OK
    code, out, _ = run(capsys, older, "--state-dir", state_dir)
    assert "SKIP  history: the checkpoint is older than the one remembered (size 3)" in out
    assert code == EXIT_OK


def test_a_checkpoint_under_another_log_key_is_reported(tmp_path, capsys, log, state_dir):
    signer = key_pair()
    assert (
        run(
            capsys, write(tmp_path, release_document(log, signer, random_commit())), "--state-dir", state_dir
        )[0]
        == 0
    )
    other = MemoryLog()
    code, out, _ = run(
        capsys, write(tmp_path, release_document(other, signer, random_commit())), "--state-dir", state_dir
    )
    assert code == EXIT_FAILED
    assert "FAIL  history: this checkpoint is signed by log key" in out


def test_a_damaged_state_file_cannot_be_trusted(tmp_path, capsys, log, state_dir):
    path = write(tmp_path, release_document(log, key_pair(), random_commit()))
    assert run(capsys, path, "--state-dir", state_dir)[0] == EXIT_OK
    state_file = CheckpointStore(state_dir).path_for("log.test/vitrina")
    state = json.loads(state_file.read_text())
    state["checkpoint"] = state["checkpoint"].replace("\n2\n", "\n9\n")
    state_file.write_text(json.dumps(state))
    code, out, _ = run(capsys, path, "--state-dir", state_dir)
    assert code == EXIT_COULD_NOT_CHECK
    assert "damaged" in out


def test_the_state_lives_in_the_users_cache_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_state_dir() == tmp_path / "cache" / "vitrina-verifier"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_state_dir() == tmp_path / "home" / ".cache" / "vitrina-verifier"


def test_python_dash_m_verifier_runs_with_only_the_standard_library_and_cryptography(tmp_path, log):
    path = write(tmp_path, release_document(log, key_pair(), random_commit()))
    script = (
        "import sys, runpy\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('django', 'rest_framework', 'celery', 'portal', 'rfc8785'):\n"
        "            raise ImportError('verifier must not import ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "sys.argv = ['verifier', 'verify', sys.argv[1], '--no-state']\n"
        "runpy.run_module('verifier', run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, path], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert "RESULT: verified." in result.stdout


@pytest.mark.parametrize("damage", [b"[" * 100_000, b'{"verifier_key": "k", "verifier_key": "k"}', b"\xff"])
def test_a_state_file_that_is_not_strict_json_cannot_be_trusted(tmp_path, capsys, log, state_dir, damage):
    path = write(tmp_path, release_document(log, key_pair(), random_commit()))
    assert run(capsys, path, "--state-dir", state_dir)[0] == EXIT_OK
    CheckpointStore(state_dir).path_for("log.test/vitrina").write_bytes(damage)
    code, out, _ = run(capsys, path, "--state-dir", state_dir)
    assert code == EXIT_COULD_NOT_CHECK
    assert "damaged" in out


@pytest.mark.parametrize(
    "state",
    [
        {"verifier_key": 5, "checkpoint": "x"},
        {"verifier_key": ["k"], "checkpoint": {}},
        {"verifier_key": "k", "checkpoint": None},
        ["verifier_key"],
    ],
)
def test_a_state_file_with_fields_of_the_wrong_type_cannot_be_trusted(
    tmp_path, capsys, log, state_dir, state
):
    path = write(tmp_path, release_document(log, key_pair(), random_commit()))
    assert run(capsys, path, "--state-dir", state_dir)[0] == EXIT_OK
    CheckpointStore(state_dir).path_for("log.test/vitrina").write_text(json.dumps(state))
    code, out, _ = run(capsys, path, "--state-dir", state_dir)
    assert code == EXIT_COULD_NOT_CHECK
    assert "ERROR history: " in out and "damaged" in out


@pytest.mark.parametrize("status", [200, 404])
def test_a_portal_answering_deeply_nested_json_to_a_proof_request_is_a_bad_response(status):
    with LiveServer(b"[" * 60_000, status=status) as server:
        with pytest.raises(CouldNotCheck) as refused:
            fetch_consistency_proof(server.base_url, 1, 2, timeout=5)
    assert refused.value.reason == Reason.BAD_RESPONSE
