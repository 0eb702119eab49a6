"""A suite can never pass in CI by silently dropping a prerequisite (test vectors, Chromium, Go, Redis)."""

import subprocess
import sys
import textwrap

import pytest

from tests.helpers import needs

PROBE = textwrap.dedent(
    """
    import pytest
    from tests.helpers.needs import missing, missing_param

    @pytest.mark.parametrize("case", [missing_param("vectors not found at /nowhere")])
    def test_each_vector(case):
        missing(case)

    def test_directory():
        missing("vectors not found at /nowhere")
    """
)


def run_probe(tmp_path, ci):
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(needs.__file__).rsplit("/tests/", 1)[0]}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django", str(probe)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_vectors_fail_the_run_under_ci(tmp_path):
    result = run_probe(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    assert "2 failed" in result.stdout
    assert "vectors not found at /nowhere; CI must run this test" in result.stdout


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_missing_vectors_are_skipped_on_a_developers_machine(tmp_path, ci):
    result = run_probe(tmp_path, ci)
    assert result.returncode == 0, result.stdout
    assert "2 skipped" in result.stdout
