"""``verify --witness-key VKEY ... --min-witnesses K``: counting the witnesses' cosignatures of a bundle's
checkpoint, as ``verify_bundle`` and as the command line."""

import base64
import copy

import pytest

from tests.verifier.factories import key_pair, random_commit
from tests.verifier.test_bundle import (
    FAIL,
    PASS,
    SKIP,
    MemoryLog,
    deployment_document,
    encode,
    release_document,
    statuses,
    verify,
)
from verifier import note
from verifier.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, main
from verifier.cosignature import generate_cosigner_key, parse_cosigner_signer_key, parse_cosigner_vkey
from verifier.witness import Witness, WitnessState, format_add_checkpoint


@pytest.fixture
def log():
    memory = MemoryLog()
    memory.append({"v": 1, "type": "key_added", "project": "demo"})
    return memory


@pytest.fixture
def keys():
    return [parse_cosigner_signer_key(generate_cosigner_key(f"witness.test/w{i}")) for i in (1, 2, 3)]


@pytest.fixture
def vkeys(keys):
    return [key.verifier_key for key in keys]


@pytest.fixture
def cosigners(vkeys):
    return [parse_cosigner_vkey(vkey) for vkey in vkeys]


def cosigned(document, log, tmp_path, keys):
    """``document`` with its checkpoint cosigned by real witnesses (``Witness``), one per key of ``keys``."""
    checkpoint = document["log"]["checkpoint"]
    trusted = {log.proof_section(0)["origin"]: [note.parse_verifier_key(log.verifier_key)]}
    lines = ""
    for key in keys:
        state = tmp_path / key.name.replace("/", "_")
        state.mkdir(parents=True, exist_ok=True)
        answer = Witness(key, trusted, WitnessState(state)).add_checkpoint(
            format_add_checkpoint(0, [], checkpoint)
        )
        assert answer.status == 200, answer.body
        lines += answer.body.decode()
    document = copy.deepcopy(document)
    document["log"]["checkpoint"] = checkpoint + lines
    return document


@pytest.fixture
def document(log, tmp_path, keys):
    return cosigned(release_document(log, key_pair(), random_commit()), log, tmp_path, keys[:2])


def forge(document, witness_name):
    """The cosignature line of ``witness_name`` with its last signature byte flipped."""
    text, lines = note.split_note(document["log"]["checkpoint"])
    forged = []
    for line in lines:
        name, encoded = line.removeprefix(note.SIGNATURE_PREFIX).split(" ")
        if name == witness_name:
            raw = bytearray(base64.b64decode(encoded))
            raw[-1] ^= 1
            line = f"{note.SIGNATURE_PREFIX}{name} {base64.b64encode(bytes(raw)).decode()}"
        forged.append(line)
    document = copy.deepcopy(document)
    document["log"]["checkpoint"] = text + "\n" + "".join(f"{line}\n" for line in forged)
    return document


def witnesses_check(results, name="witnesses"):
    return next(result for result in results if result.name == name)


# --- verify_bundle ------------------------------------------------------------------------------------


def test_two_valid_cosignatures_meet_a_minimum_of_two_naming_both(document, log, cosigners):
    results = verify(document, log_key=log.verifier_key, witness_keys=cosigners[:2], min_witnesses=2)
    check = witnesses_check(results)
    assert check.status == PASS, check.message
    assert check.message.startswith("cosigned by 2 of the 2 witnesses given: witness.test/w1+")
    assert cosigners[1].label in check.message and "Z" in check.message
    assert [r.name for r in results if r.status == FAIL] == []


def test_the_minimum_defaults_to_every_witness_given(document, log, cosigners):
    results = verify(document, log_key=log.verifier_key, witness_keys=cosigners)
    check = witnesses_check(results)
    assert check.status == FAIL
    assert f"no cosignature by {cosigners[2].label}" in check.message
    assert "--min-witnesses 3 asked" in check.message


def test_one_missing_cosignature_fails_a_minimum_of_two_and_passes_a_minimum_of_one(
    log, tmp_path, keys, cosigners
):
    document = cosigned(release_document(log, key_pair(), random_commit()), log, tmp_path, keys[:1])
    short = witnesses_check(verify(document, witness_keys=cosigners[:2], min_witnesses=2))
    assert short.status == FAIL
    assert short.message.startswith("cosigned by 1 of the 2 witnesses given: witness.test/w1+")
    assert f"no cosignature by {cosigners[1].label}" in short.message

    enough = witnesses_check(verify(document, witness_keys=cosigners[:2], min_witnesses=1))
    assert enough.status == PASS
    assert f"no cosignature by {cosigners[1].label}" in enough.message


def test_a_forged_cosignature_fails_whatever_the_count(document, cosigners):
    forged = forge(document, "witness.test/w1")
    for minimum in (0, 1, 2):
        check = witnesses_check(verify(forged, witness_keys=cosigners[:2], min_witnesses=minimum))
        assert check.status == FAIL
        assert f"the cosignature by witness {cosigners[0].label} does not verify" in check.message


def test_a_cosignature_moved_from_another_checkpoint_does_not_verify(
    document, log, tmp_path, keys, cosigners
):
    log.append({"v": 1, "type": "note", "n": 1})
    later = cosigned({"log": log.proof_section(1)}, log, tmp_path / "later", keys[:1])
    moved = copy.deepcopy(document)
    moved["log"]["checkpoint"] += note.split_note(later["log"]["checkpoint"])[1][-1] + "\n"
    check = witnesses_check(verify(moved, witness_keys=cosigners[:1]))
    assert check.status == FAIL and "does not verify" in check.message


def test_without_witness_keys_the_check_is_skipped_and_old_bundles_verify_as_before(document, log):
    results = verify(document, log_key=log.verifier_key)
    assert witnesses_check(results).status == SKIP
    assert witnesses_check(results).message == "no witness keys given (--witness-key)"
    plain = verify(release_document(log, key_pair(), random_commit()), log_key=log.verifier_key)
    assert [r.name for r in plain if r.status == FAIL] == []


def test_unknown_witnesses_are_ignored_and_a_key_given_twice_counts_once(document, cosigners):
    check = witnesses_check(verify(document, witness_keys=[cosigners[0], cosigners[0]]))
    assert check.status == PASS
    assert check.message.startswith("cosigned by 1 of the 1 witnesses given")


def test_no_cosignature_is_counted_on_a_checkpoint_the_log_key_refuses(document, cosigners):
    results = verify(document, log_key=MemoryLog().verifier_key, witness_keys=cosigners[:2])
    assert statuses(results)["checkpoint"] == FAIL
    assert witnesses_check(results).status == SKIP


def test_each_checkpoint_of_a_deployment_bundle_is_counted(log, tmp_path, keys, cosigners):
    document = deployment_document(log, key_pair(), random_commit())
    document = cosigned(document, log, tmp_path, keys[:2])
    results = verify(document, witness_keys=cosigners[:2])
    assert statuses(results)["deployment witnesses"] == PASS
    assert statuses(results)["release witnesses"] == FAIL  # the release's own proof was not cosigned


# --- The command line ---------------------------------------------------------------------------------


def run(capsys, *args):
    code = main(["verify", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def bundle_file(tmp_path, document):
    path = tmp_path / "bundle.json"
    path.write_bytes(encode(document))
    return path


def test_the_command_passes_two_of_two_and_fails_three_of_three(capsys, bundle_file, log, vkeys):
    base = [bundle_file, "--log-key", log.verifier_key, "--no-state"]
    code, out, _ = run(
        capsys, *base, "--witness-key", vkeys[0], "--witness-key", vkeys[1], "--min-witnesses", 2
    )
    assert code == EXIT_OK, out
    assert "PASS  witnesses: cosigned by 2 of the 2 witnesses given" in out

    all_three = [arg for vkey in vkeys for arg in ("--witness-key", vkey)]
    code, out, _ = run(capsys, *base, *all_three)
    assert code == EXIT_FAILED
    assert "FAIL  witnesses: cosigned by 2 of the 3" in out
    assert "RESULT: FAILED. 1 check(s) failed: witnesses" in out


def test_the_command_fails_on_a_forged_cosignature(capsys, tmp_path, document, vkeys):
    path = tmp_path / "forged.json"
    path.write_bytes(encode(forge(document, "witness.test/w2")))
    code, out, _ = run(capsys, path, "--no-state", "--witness-key", vkeys[1], "--min-witnesses", 0)
    assert code == EXIT_FAILED
    assert "does not verify" in out


def test_a_witness_key_can_be_read_from_a_file(capsys, tmp_path, bundle_file, vkeys):
    key_file = tmp_path / "w1.vkey"
    key_file.write_text(vkeys[0] + "\n")
    code, out, _ = run(capsys, bundle_file, "--no-state", "--witness-key", key_file)
    assert code == EXIT_OK, out


@pytest.mark.parametrize(
    "extra, problem",
    [
        (["--witness-key", "nonsense"], "--witness-key is neither a verifier key"),
        (["--witness-key", "{log_key}"], "signature type 0x04"),
        (
            ["--witness-key", "{w1}", "--min-witnesses", "2"],
            "--min-witnesses 2: give a number from 0 to the 1",
        ),
        (
            ["--witness-key", "{w1}", "--witness-key", "{w1}", "--min-witnesses", "2"],
            "from 0 to the 1 distinct",
        ),
        (["--min-witnesses", "1"], "from 0 to the 0 distinct"),
        (["--witness-key", "{w1}", "--min-witnesses", "-1"], "--min-witnesses -1"),
    ],
)
def test_bad_witness_arguments_are_one_line_and_exit_3(
    capsys, tmp_path, bundle_file, log, vkeys, extra, problem
):
    key_file = tmp_path / "log.vkey"
    key_file.write_text(log.verifier_key + "\n")
    values = {"log_key": key_file, "w1": vkeys[0]}
    code, out, err = run(capsys, bundle_file, "--no-state", *[arg.format(**values) for arg in extra])
    assert code == EXIT_BAD_INPUT
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("verify: ")
    assert problem in err
