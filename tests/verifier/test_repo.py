"""The repository check against real git repositories, over git:// (a real git daemon) and file://."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers.gitserver import (
    GitDaemon,
    add_commit,
    free_port,
    git,
    make_repo,
    make_side_commit,
)
from verifier.errors import CouldNotCheck, FormatError
from verifier.reasons import Reason
from verifier.repo import RepoCheck, RepoMirror, check_commit_in_repo

MISSING_COMMIT = "d" * 40
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repos(tmp_path):
    """The directory a git daemon serves, holding ``app.git`` with three commits on main."""
    base = tmp_path / "served"
    make_repo(base / "app.git", commits=3)
    return base


@pytest.fixture(params=["git", "file"])
def repo_url(request, repos):
    """The URL of ``app.git``, once over git:// and once over file://."""
    if request.param == "file":
        yield (repos / "app.git").as_uri()
        return
    with GitDaemon(repos) as daemon:
        yield daemon.url_for("app.git")


@pytest.fixture
def mirror(tmp_path):
    return RepoMirror(tmp_path / "cache", timeout=10.0, min_fetch_interval=0)


def shas_of(repos):
    return git(repos / "app.git", "rev-list", "--reverse", "main").split()


def test_commit_on_branch_counts_how_far_the_branch_moved_on(mirror, repos, repo_url):
    first = shas_of(repos)[0]
    add_commit(repos / "app.git", "main", "change 4")
    head = add_commit(repos / "app.git", "main", "change 5")

    check = mirror.check_commit(repo_url, first, "main")

    assert check == RepoCheck(commit_exists=True, on_branch=True, ahead_by=4, branch_head=head)


def test_branch_head_is_on_branch_and_ahead_by_zero(mirror, repos, repo_url):
    head = shas_of(repos)[-1]

    assert mirror.check_commit(repo_url, head, "main") == RepoCheck(True, True, 0, head)


def test_commit_only_on_another_branch_is_not_on_branch(mirror, repos, repo_url):
    side = make_side_commit(repos / "app.git")

    check = mirror.check_commit(repo_url, side, "main")

    assert check.commit_exists is True
    assert check.on_branch is False
    assert check.ahead_by is None
    assert check.branch_head == shas_of(repos)[-1]


def test_missing_commit_is_reported_as_missing(mirror, repo_url):
    check = mirror.check_commit(repo_url, MISSING_COMMIT, "main")

    assert (check.commit_exists, check.on_branch, check.ahead_by) == (False, False, None)


def test_unknown_branch_is_repo_unreachable(mirror, repos, repo_url):
    with pytest.raises(CouldNotCheck) as caught:
        mirror.check_commit(repo_url, shas_of(repos)[0], "release")

    assert caught.value.reason is Reason.REPO_UNREACHABLE
    assert "'release'" in str(caught.value)


def test_closed_port_is_repo_unreachable_within_the_timeout(tmp_path):
    mirror = RepoMirror(tmp_path / "cache", timeout=3.0)
    started = time.monotonic()

    with pytest.raises(CouldNotCheck) as caught:
        mirror.check_commit(f"git://127.0.0.1:{free_port()}/app.git", MISSING_COMMIT, "main")

    assert caught.value.reason is Reason.REPO_UNREACHABLE
    assert "127.0.0.1" in str(caught.value)
    assert time.monotonic() - started < 3.0
    assert [entry.suffix for entry in (tmp_path / "cache").iterdir()] == [".lock"], "no half-built mirror"


def test_new_commit_is_seen_once_the_fetch_interval_has_passed(mirror, repos, repo_url):
    mirror.check_commit(repo_url, shas_of(repos)[-1], "main")
    new = add_commit(repos / "app.git", "main", "hotfix")

    check = mirror.check_commit(repo_url, new, "main")

    assert check == RepoCheck(True, True, 0, new)


def test_repeated_checks_within_the_interval_do_not_fetch_again(tmp_path, repos):
    mirror = RepoMirror(tmp_path / "cache", timeout=10.0, min_fetch_interval=3600)
    url = (repos / "app.git").as_uri()
    mirror.check_commit(url, shas_of(repos)[-1], "main")
    new = add_commit(repos / "app.git", "main", "not fetched yet")

    check = mirror.check_commit(url, new, "main")

    assert check.commit_exists is False


def test_branch_force_pushed_away_from_a_commit_is_seen_after_fetch(mirror, repos, repo_url):
    head = shas_of(repos)[-1]
    mirror.check_commit(repo_url, head, "main")
    git(repos / "app.git", "update-ref", "refs/heads/main", shas_of(repos)[0])

    check = mirror.check_commit(repo_url, head, "main")

    assert check.on_branch is False


def test_two_threads_checking_one_repo_get_the_same_right_answer(mirror, repos, repo_url):
    first, *_, head = shas_of(repos)
    results, errors = [], []

    def check():
        try:
            results.append(mirror.check_commit(repo_url, first, "main"))
        except Exception as exc:  # collected, so a failure in a thread fails the test
            errors.append(exc)

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert results == [RepoCheck(True, True, 2, head)] * 4


def test_two_processes_creating_one_mirror_at_once_both_succeed(tmp_path, repos):
    """The file lock, not luck, keeps two workers from building the same mirror on top of each other."""
    url = (repos / "app.git").as_uri()
    head = shas_of(repos)[-1]
    script = (
        "import sys; from verifier.repo import RepoMirror; "
        "check = RepoMirror(sys.argv[1], timeout=10.0, min_fetch_interval=0).check_commit(*sys.argv[2:]); "
        "print(check.on_branch, check.ahead_by)"
    )
    command = [sys.executable, "-c", script, str(tmp_path / "cache"), url, head, "main"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    workers = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [worker.communicate(timeout=30)[0] for worker in workers]

    assert outputs == ["True 0\n"] * 3
    assert len([entry for entry in (tmp_path / "cache").iterdir() if entry.is_dir()]) == 1


def test_list_commits_shows_what_changed_since_the_previous_release(mirror, repos, repo_url):
    first, second, third = shas_of(repos)

    changes = mirror.list_commits(repo_url, first, third)

    assert [change["sha"] for change in changes] == [third, second]
    assert changes[0] == {
        "sha": third,
        "author": "Ada Tester",
        "date": "2024-01-01T00:02:00+00:00",
        "subject": "change 3",
    }


def test_list_commits_of_a_first_release_respects_the_limit(mirror, repos, repo_url):
    shas = shas_of(repos)

    changes = mirror.list_commits(repo_url, None, shas[-1], limit=2)

    assert [change["sha"] for change in changes] == shas[:0:-1]


def test_list_commits_with_a_missing_commit_cannot_be_done(mirror, repos, repo_url):
    with pytest.raises(CouldNotCheck) as caught:
        mirror.list_commits(repo_url, MISSING_COMMIT, shas_of(repos)[-1])

    assert caught.value.reason is Reason.COMMIT_MISSING


def test_check_commit_in_repo_works_on_a_local_path(repos):
    side = make_side_commit(repos / "app.git")

    assert check_commit_in_repo(repos / "app.git", shas_of(repos)[-1], "main").on_branch is True
    assert check_commit_in_repo(str(repos / "app.git"), side, "side").ahead_by == 0


# --- hostile values never reach git's command line ------------------------------------------------


@pytest.mark.parametrize(
    "commit",
    ["--upload-pack=touch pwned", "-d", "HEAD", "main", "D" * 40, "d" * 39, "d" * 41, "d" * 40 + "\n", None],
)
def test_malformed_commits_are_refused(mirror, repos, commit):
    with pytest.raises(FormatError):
        mirror.check_commit((repos / "app.git").as_uri(), commit, "main")


@pytest.mark.parametrize(
    "branch", ["--output=/tmp/pwned", "-main", "@{-1}", "main..side", "bad name", "a:b", "", "main.lock"]
)
def test_malformed_branch_names_are_refused(mirror, repos, branch):
    with pytest.raises(FormatError):
        mirror.check_commit((repos / "app.git").as_uri(), MISSING_COMMIT, branch)


@pytest.mark.parametrize(
    "url",
    [
        "--upload-pack=touch pwned",
        "-oProxyCommand=touch pwned",
        "ext::sh -c touch% pwned",
        "ssh://127.0.0.1/app.git",
        "git@example.org:app.git",
        "fd::3",
        "relative/path",
        " git://127.0.0.1/app.git",
        "git://127.0.0.1/app.git\n",
    ],
)
def test_malformed_or_dangerous_repository_urls_are_refused(mirror, url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    with pytest.raises(FormatError):
        mirror.check_commit(url, MISSING_COMMIT, "main")

    assert not (tmp_path / "pwned").exists()


def test_ext_transport_is_refused_by_git_itself_even_past_validation(tmp_path, monkeypatch):
    """Defence in depth: if a URL slipped past validation, git's protocol allow-list still refuses it."""
    monkeypatch.setattr("verifier.repo.check_repo_url", lambda url: None)
    monkeypatch.chdir(tmp_path)
    mirror = RepoMirror(tmp_path / "cache", timeout=10.0)

    with pytest.raises(CouldNotCheck) as caught:
        mirror.check_commit(f"ext::sh -c touch% {tmp_path}/pwned", MISSING_COMMIT, "main")

    assert caught.value.reason is Reason.REPO_UNREACHABLE
    assert list(tmp_path.rglob("pwned")) == []
