"""The verifier is fully typed: mypy in strict mode finds nothing in verifier/.

Volunteers read this code to decide whether to trust it, and the types are part of what it promises.
The test runs mypy's own API with pyproject.toml's ``[tool.mypy]`` settings and ``--strict`` on top
(so loosening the settings cannot make it pass), and fails listing every error.
"""

from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_strict_finds_no_error_in_the_verifier(tmp_path):
    stdout, stderr, status = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--strict",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            str(ROOT / "verifier"),
        ]
    )
    assert status == 0, f"mypy --strict verifier/:\n{stdout}{stderr}"
