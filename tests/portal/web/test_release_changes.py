"""A release page says what changed since the previous release, from the repository mirror the portal
already has, and never fetches anything while a reader waits."""

import pytest
from django.core.cache import cache

from portal.web import changes
from tests.helpers.gitserver import add_commit, make_repo
from tests.portal import factories
from verifier.repo import RepoMirror

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def mirror_dir(tmp_path, settings):
    settings.VITRINA_REPO_CACHE_DIR = str(tmp_path / "mirrors")
    return tmp_path / "mirrors"


def two_releases(repo_url, old_commit=None, new_commit=None):
    project = factories.make_project("city-portal", repo_url=repo_url)
    private_key, _ = factories.make_key(project)
    old = factories.make_release(project, private_key, "1.0.0", commit=old_commit)
    new = factories.make_release(project, private_key, "1.1.0", commit=new_commit)
    return project, old, new


def page(client, release):
    response = client.get(release.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    ("repo", "expected"),
    [
        ("https://github.com/city/portal", "https://github.com/city/portal/compare/OLD...NEW"),
        ("https://codeberg.org/city/portal", "https://codeberg.org/city/portal/compare/OLD...NEW"),
        ("https://gitea.example.org/city/portal", "https://gitea.example.org/city/portal/compare/OLD...NEW"),
        ("https://gitlab.com/city/portal", "https://gitlab.com/city/portal/-/compare/OLD...NEW"),
        (
            "https://gitlab.example.org/g/sub/portal",
            "https://gitlab.example.org/g/sub/portal/-/compare/OLD...NEW",
        ),
        ("https://git.example.org/portal", "https://git.example.org/portal/compare/OLD...NEW"),
        ("http://github.com/city/portal", ""),
        ("git://git.example.org/portal", ""),
        ("/srv/git/portal.git", ""),
        ("https://git.example.org/", ""),
        ("https://git.example.org/portal?x=1", ""),
        ("", ""),
    ],
)
def test_the_compare_link_takes_the_shape_of_each_forge(repo, expected):
    assert changes.compare_url(repo, "OLD", "NEW") == expected


def test_the_release_page_links_the_range_since_the_previous_release(client, mirror_dir):
    _, old, new = two_releases("https://gitlab.com/city/portal.git")
    html = page(client, new)
    assert (
        f'href="https://gitlab.com/city/portal/-/compare/{old.source_commit}...{new.source_commit}"' in html
    )
    assert f'href="{old.get_absolute_url()}">1.0.0</a>' in html


def test_the_first_release_has_nothing_to_compare(client, mirror_dir):
    _, old, _ = two_releases("https://github.com/city/portal")
    html = page(client, old)
    assert "This is the project's first release" in html
    assert "/compare/" not in html


def test_the_same_commit_twice_says_the_code_did_not_change(client, mirror_dir):
    commit = factories.fake_commit()
    _, _, new = two_releases("https://github.com/city/portal", commit, commit)
    html = page(client, new)
    assert "the code did not change" in html
    assert "/compare/" not in html


def test_commits_are_listed_from_a_mirror_the_portal_already_fetched(client, tmp_path, mirror_dir):
    repo = tmp_path / "portal.git"
    shas = make_repo(repo, commits=4)
    _, _, new = two_releases(str(repo), shas[1], shas[3])
    # What a monitoring check leaves behind:
    RepoMirror(mirror_dir, allow_private=True).check_commit(str(repo), shas[3], "main")
    html = page(client, new)
    assert "2 commits, newest first" in html
    assert html.index("change 4") < html.index("change 3")
    assert "change 2" not in html and "change 1" not in html
    assert "Ada Tester" in html
    assert shas[3][:12] in html


def test_a_page_view_never_fetches_even_when_the_mirror_is_stale(client, tmp_path, mirror_dir, monkeypatch):
    repo = tmp_path / "portal.git"
    shas = make_repo(repo, commits=2)
    RepoMirror(mirror_dir, allow_private=True).check_commit(str(repo), shas[1], "main")
    newer = add_commit(repo, "main", "change after the mirror was fetched")
    _, _, new = two_releases(str(repo), shas[1], newer)

    def no_network(*args, **kwargs):
        raise AssertionError("a page view fetched from the repository")

    monkeypatch.setattr(RepoMirror, "_fetch", no_network)
    monkeypatch.setattr(RepoMirror, "_create", no_network)
    html = page(client, new)
    # The mirror does not hold the new commit yet: no list, no error, the page still opens.
    assert "change after the mirror was fetched" not in html
    assert "newest first" not in html


def test_without_a_mirror_there_is_no_list_and_no_error(client, mirror_dir, monkeypatch):
    monkeypatch.setattr(RepoMirror, "_fetch", lambda *a, **k: pytest.fail("fetched"))
    monkeypatch.setattr(RepoMirror, "_create", lambda *a, **k: pytest.fail("cloned"))
    _, old, new = two_releases("https://github.com/city/portal")
    html = page(client, new)
    assert f"/compare/{old.source_commit}...{new.source_commit}" in html
    assert "newest first" not in html
    assert not mirror_dir.exists()


def test_the_list_is_cut_at_the_limit_and_says_so(client, tmp_path, mirror_dir, monkeypatch):
    monkeypatch.setattr(changes, "COMMIT_LIMIT", 2)
    repo = tmp_path / "portal.git"
    shas = make_repo(repo, commits=5)
    RepoMirror(mirror_dir, allow_private=True).check_commit(str(repo), shas[-1], "main")
    _, _, new = two_releases(str(repo), shas[0], shas[-1])
    html = page(client, new)
    assert "2 commits, newest first" in html
    assert "only the newest are listed" in html


def test_the_answer_is_kept_in_the_cache_so_git_runs_once(client, tmp_path, mirror_dir, monkeypatch):
    repo = tmp_path / "portal.git"
    shas = make_repo(repo, commits=3)
    RepoMirror(mirror_dir, allow_private=True).check_commit(str(repo), shas[-1], "main")
    _, _, new = two_releases(str(repo), shas[0], shas[-1])
    calls = []
    real = RepoMirror.list_commits

    def counted(self, *args, **kwargs):
        calls.append(kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(RepoMirror, "list_commits", counted)
    assert "change 3" in page(client, new)
    assert "change 3" in page(client, new)
    assert calls == [{"limit": changes.COMMIT_LIMIT, "fetch": False}]


def test_list_commits_without_fetch_reads_only_an_existing_mirror(tmp_path):
    repo = tmp_path / "portal.git"
    shas = make_repo(repo, commits=3)
    mirror = RepoMirror(tmp_path / "mirrors", timeout=2, allow_private=True)
    assert mirror.list_commits(str(repo), shas[0], shas[2], fetch=False) is None
    mirror.check_commit(str(repo), shas[2], "main")
    added = add_commit(repo, "main", "not yet mirrored")
    listed = mirror.list_commits(str(repo), shas[0], shas[2], fetch=False)
    assert [commit["subject"] for commit in listed] == ["change 3", "change 2"]
    assert added not in [commit["sha"] for commit in listed]
