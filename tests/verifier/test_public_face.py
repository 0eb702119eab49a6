"""The package's public face: the worked example in ``verifier/__init__.py`` runs as written.

The example is what a volunteer reads first, so it is run here, as a doctest, on a bundle made by the
test factories and saved under the file names the example uses.
"""

import doctest

import verifier
from tests.verifier.factories import key_pair, random_commit
from tests.verifier.test_bundle import ARTIFACT, MemoryLog, encode, release_document


def test_the_worked_example_in_the_package_docstring_runs(tmp_path, monkeypatch):
    log = MemoryLog()
    (tmp_path / "demo-1.4.2.bundle.json").write_bytes(
        encode(release_document(log, key_pair(), random_commit()))
    )
    (tmp_path / "log.pub").write_text(log.verifier_key + "\n")
    (tmp_path / "demo-1.4.2.tar.gz").write_bytes(ARTIFACT)
    monkeypatch.chdir(tmp_path)
    [example] = doctest.DocTestFinder(recurse=False).find(verifier)
    report = []
    runner = doctest.DocTestRunner()
    runner.run(example, out=report.append)
    assert len(example.examples) > 5
    assert runner.failures == 0, "".join(report)
    assert (tmp_path / "checkpoints").is_dir()


def test_every_name_of_the_public_face_is_there():
    assert [name for name in verifier.__all__ if not hasattr(verifier, name)] == []
    assert len(set(verifier.__all__)) == len(verifier.__all__)
