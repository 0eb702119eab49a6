"""The release page says who rebuilt the version independently and what they got, how to rebuild it,
and what a reproduced build proves and does not."""

import datetime

import pytest
from django.utils import timezone

from portal.registry.models import Rebuild, RebuildAnswer, Rebuilder
from tests.portal import factories
from verifier.statement import BuildInstructions

OTHER = "ee" * 32


@pytest.fixture
def release(db):
    project = factories.make_project("city-portal")
    private_key, _ = factories.make_key(project)
    build = BuildInstructions("./build.sh", {"PYTHON": "3.12"}, {"app.tar.gz": "dist/app.tar.gz"})
    return factories.make_release(project, private_key, "2.0.0", build=build)


def rebuild(release, name, sha256):
    rebuilder = Rebuilder.objects.create(
        name=name, public_key_pem="-", algorithm="ed25519", key_id=name.ljust(64, "0")[:64], token_hash=name
    )
    result = "reproduced" if f"sha256:{sha256}" == release.artifact_digest else "differs"
    return Rebuild.objects.create(
        rebuilder=rebuilder,
        release=release,
        rebuilt_at=timezone.now() - datetime.timedelta(hours=1),
        result=result,
        subjects=[{"name": release.artifact_name, "digest": {"sha256": sha256}}],
        envelope="{}",
        envelope_sha256="00" * 32,
    )


def page(client, release, language="en"):
    return client.get(release.get_absolute_url(), HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_reproduced_by_n_of_m_names_each_rebuilder_and_shows_both_digests_of_a_mismatch(client, release):
    own = release.artifact_digest.removeprefix("sha256:")
    rebuild(release, "rebuilder-a", own)
    rebuild(release, "rebuilder-b", own)
    differing = rebuild(release, "rebuilder-c", OTHER)
    html = page(client, release)
    assert "Reproduced by 2 of 3 independent rebuilders" in html
    for name in ("rebuilder-a", "rebuilder-b", "rebuilder-c"):
        assert name in html
    assert f"sha256:{OTHER}" in html and release.artifact_digest in html
    assert "Not answered by the project yet." in html
    assert "the result is the same bytes" not in html
    assert "got a different result" in html
    RebuildAnswer.objects.create(rebuild=differing, text="Otra versión de gzip en su máquina.")
    assert "Otra versión de gzip en su máquina." in page(client, release)


def test_only_a_release_every_rebuilder_reproduced_is_said_to_give_the_same_bytes(client, release):
    rebuild(release, "rebuilder-a", release.artifact_digest.removeprefix("sha256:"))
    assert "Reproduced by 1 of 1 independent rebuilder: built again" in page(client, release)


def test_the_page_shows_how_to_rebuild_and_what_it_proves_in_spanish(client, release):
    html = page(client, release, "es")
    assert "./build.sh" in html and "PYTHON" in html
    assert "Ningún reconstructor independiente ha reconstruido esta versión todavía." in html
    assert "Qué prueba una compilación reproducida, y qué no" in html
