"""A small real project with a reproducible build, in a real git repository on disk, and CI's build of it.

The project is a ``src/`` folder and a ``build.sh`` (no make) that packs it into ``dist/app.tar.gz`` the
way reproducible-builds.org recommends: members sorted by name, every time set to
``$SOURCE_DATE_EPOCH``, owners zeroed, gzip without a name or a time stamp. The same commit built
anywhere (another folder, another user, another clock) gives the same bytes.

The non-reproducible variant writes the time of the build into the package (``src/BUILT_AT``), the
classic culprit: two builds one nanosecond apart differ in that one member.

    project = make_project(tmp_path / "app")                       # commit, command, output path
    artifact = ci_build(project, tmp_path / "ci")                  # what CI builds and signs
    drifting = make_project(tmp_path / "app2", reproducible=False)

``ci_build`` is CI's side, written independently of ``verifier.rebuild``: a plain ``git clone`` in its
own folder, the command run under the caller's environment plus ``SOURCE_DATE_EPOCH``.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.gitserver import FIRST_DATE, git

BUILD_COMMAND = "sh build.sh"
OUTPUT = "dist/app.tar.gz"
ARTIFACT_NAME = "app.tar.gz"

PACK = (
    "tar --sort=name --mtime=@$SOURCE_DATE_EPOCH --owner=0 --group=0 --numeric-owner -cf - src "
    "| gzip -n > dist/app.tar.gz"
)
SOURCES = {
    "src/app.py": 'print("hello from the city hall")\n',
    "src/lib/util.py": "def add(a, b):\n    return a + b\n",
    "src/README.txt": "A small service, rebuilt by anyone.\n",
}
REPRODUCIBLE_BUILD = f"#!/bin/sh\nset -eu\nmkdir -p dist\n{PACK}\n"
# The time of the build inside the package: every build differs in src/BUILT_AT, and only there.
DRIFTING_BUILD = f"#!/bin/sh\nset -eu\nmkdir -p dist\ndate -u +%Y-%m-%dT%H:%M:%S.%NZ > src/BUILT_AT\n{PACK}\n"


@dataclass(frozen=True)
class Project:
    """A project's repository (a normal, non-bare one) and the facts a release records about it."""

    repo: Path
    commit: str
    commit_time: int  # the commit's committer time: the build's SOURCE_DATE_EPOCH
    build_command: str = BUILD_COMMAND
    output: str = OUTPUT
    artifact_name: str = ARTIFACT_NAME

    @property
    def repo_url(self) -> str:
        return self.repo.as_uri()


def make_project(path, *, reproducible=True, commit_time=FIRST_DATE + 3600):
    """Create the project's git repository at ``path`` with one commit on ``main``; its ``Project``."""
    path = Path(path)
    for name, text in {**SOURCES, "build.sh": REPRODUCIBLE_BUILD if reproducible else DRIFTING_BUILD}.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    (path / ".gitignore").write_text("dist/\n")
    git(path, "init", "--quiet", "--initial-branch=main")
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "-m", "A service to rebuild", date=commit_time)
    commit = git(path, "rev-parse", "HEAD")
    return Project(repo=path, commit=commit, commit_time=commit_time)


def ci_build(project, workdir):
    """Build ``project``'s commit as a CI job would, in a clone under ``workdir``; the artifact's path.

    CI's own environment (this process's, minus nothing) plus ``SOURCE_DATE_EPOCH``; the files checked
    out under umask 022, as on a usual runner."""
    checkout = Path(workdir) / "checkout"
    checkout.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "clone", "--quiet", str(project.repo), str(checkout)],
        check=True,
        capture_output=True,
        umask=0o022,
        timeout=60,
    )
    git(checkout, "checkout", "--quiet", "--detach", project.commit)
    subprocess.run(
        ["bash", "-c", project.build_command],
        cwd=checkout,
        env={**os.environ, "SOURCE_DATE_EPOCH": str(project.commit_time)},
        check=True,
        capture_output=True,
        umask=0o022,
        timeout=60,
    )
    artifact = Path(workdir) / project.artifact_name
    shutil.copyfile(checkout / project.output, artifact)
    return artifact


def tampering_gzip(directory):
    """A ``gzip`` in ``directory`` that adds bytes to what it compresses: put ``directory`` first in a
    rebuilder's PATH and its build gives other bytes, with the same members in the tar."""
    real = shutil.which("gzip")
    shim = Path(directory) / "gzip"
    shim.parent.mkdir(parents=True, exist_ok=True)
    shim.write_text(f'#!/bin/sh\n{{ cat; printf "tampered"; }} | {real} "$@"\n')
    shim.chmod(0o755)
    return Path(directory)
