"""The rebuilds layer: a rebuilder who got other bytes for the running release turns its environments red
until an operator answers publicly; a project that requires k reproductions is amber until it has them."""

import datetime

import pytest
from django.utils import timezone

from portal.monitoring.runner import check_environment
from portal.registry.models import Rebuild, RebuildAnswer, Rebuilder

OTHER = "ee" * 32


@pytest.fixture
def rebuilders(db):
    return [
        Rebuilder.objects.create(
            name=name, public_key_pem="-", algorithm="ed25519", key_id=f"{n:064x}", token_hash=f"{n:064x}"
        )
        for n, name in enumerate(["Debian rebuilder volunteer", "Facultad de Ingeniería"], 1)
    ]


def rebuild(watched, rebuilder, *, sha256):
    """A rebuild row as ``record_rebuild`` stores it (its envelope is not what is tested here)."""
    release = watched.release
    result = "reproduced" if f"sha256:{sha256}" == release.artifact_digest else "differs"
    return Rebuild.objects.create(
        rebuilder=rebuilder,
        release=release,
        rebuilt_at=timezone.now() - datetime.timedelta(minutes=5),
        result=result,
        subjects=[{"name": release.artifact_name, "digest": {"sha256": sha256}}],
        envelope="{}",
        envelope_sha256="00" * 32,
    )


def same(watched):
    return watched.release.artifact_digest.removeprefix("sha256:")


def test_differing_rebuild_turns_red_naming_the_rebuilder_and_both_digests(watched, rebuilders):
    rebuild(watched, rebuilders[0], sha256=same(watched))
    rebuild(watched, rebuilders[1], sha256=OTHER)
    observation = check_environment(watched.environment)
    assert (observation.result, observation.reason) == ("mismatch", "rebuild_mismatch")
    assert "Facultad de Ingeniería" in observation.message
    assert OTHER in observation.message and watched.release.artifact_digest in observation.message
    layer = observation.layers["rebuilds"]
    assert (layer["reproduced"], layer["rebuilt_by"]) == (1, 2)


def test_a_public_answer_lifts_the_red_but_the_rebuild_stays_differing(watched, rebuilders):
    differing = rebuild(watched, rebuilders[1], sha256=OTHER)
    RebuildAnswer.objects.create(rebuild=differing, text="Otra versión de gzip; ver el informe.")
    observation = check_environment(watched.environment)
    assert observation.result == "verified"
    assert (
        observation.layers["rebuilds"]["rebuilds"][0] | {"answered": True}
        == (observation.layers["rebuilds"]["rebuilds"][0])
    )
    assert observation.layers["rebuilds"]["reproduced"] == 0


def test_required_reproductions_missing_is_amber_until_enough_rebuilders_reproduce(watched, rebuilders):
    watched.project.rebuilds_required = 2
    watched.project.save()
    watched.environment.refresh_from_db()
    assert check_environment(watched.environment).reason == "not_reproduced"
    rebuild(watched, rebuilders[0], sha256=same(watched))
    assert check_environment(watched.environment).reason == "not_reproduced"
    rebuild(watched, rebuilders[1], sha256=same(watched))
    observation = check_environment(watched.environment)
    assert observation.result == "verified"
    assert observation.layers["rebuilds"]["reproduced"] == 2


def test_removed_rebuilders_do_not_count(watched, rebuilders):
    rebuild(watched, rebuilders[1], sha256=OTHER)
    Rebuilder.objects.filter(pk=rebuilders[1].pk).update(removed_at=timezone.now())
    assert check_environment(watched.environment).result == "verified"
