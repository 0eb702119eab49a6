"""Each subcommand is documented once, by its run function's docstring: the list line and ``--help``."""

import subprocess
import sys

import pytest

from verifier.attest import run_attest
from verifier.cli import run_verify
from verifier.monitor import run_monitor
from verifier.observe import run_observe
from verifier.publish import run_publish
from verifier.rebuild import run_rebuild
from verifier.witness_server import run_witness


def help_of(*args):
    result = subprocess.run(
        [sys.executable, "-m", "verifier", *args, "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return " ".join(result.stdout.split())


@pytest.mark.parametrize(
    "name, run",
    [
        ("verify", run_verify),
        ("attest", run_attest),
        ("publish", run_publish),
        ("observe", run_observe),
        ("rebuild", run_rebuild),
        ("monitor", run_monitor),
        ("witness", run_witness),
    ],
)
def test_subcommand_help_is_its_run_functions_docstring(name, run):
    summary, _, description = run.__doc__.strip().partition("\n")

    assert f"{name} {summary[0].lower()}{summary[1:].rstrip('.')}" in help_of()
    assert " ".join(description.split()) in help_of(name)
