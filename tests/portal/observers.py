"""Factories for independent observers in portal tests: a registered observer with its own key, and the
observations it signs (``verifier.observation``), through the real services."""

import itertools

from django.utils import timezone

from portal.registry import services
from verifier.keys import generate_private_key
from verifier.observation import Observation, sign_observation
from verifier.reasons import Reason, Result

_counter = itertools.count(1)


def make_observer(name=None, algorithm="ed25519"):
    """A registered observer. Returns (private key, Observer, raw token)."""
    private_key = generate_private_key(algorithm)
    observer, token = services.add_observer(name or f"Observer {next(_counter)}", private_key.public_key.pem)
    return private_key, observer, token


def make_observation(observer, environment, deployment=None, /, **changes):
    """What ``observer`` saw of ``environment``: by default the deployment's release, served as deployed
    (no deployment: could not check). Any predicate member can be replaced by keyword."""
    release = deployment.release if deployment is not None else None
    values = {
        "portal": "http://testserver",
        "project": environment.project.slug,
        "environment": environment.name,
        "observer": observer.name,
        "observed_at": timezone.now(),
        "deployment_id": deployment.pk if deployment is not None else None,
        "release_id": release.pk if release is not None else None,
        "expected_digest": release.artifact_digest if release is not None else "",
        "live_url": environment.live_url,
        "live_digest": release.artifact_digest if release is not None else None,
        "live_components": None,
        "served_files": None,
        "result": Result.VERIFIED if release is not None else Result.UNVERIFIABLE,
        "reason": None if release is not None else Reason.NO_DEPLOYMENT,
        "message": "The server reports the deployed release." if release is not None else "",
    }
    values.update(changes)
    return Observation(**values)


def signed(private_key, observation):
    """The DSSE envelope (a dict) of ``observation`` signed with the observer's ``private_key``."""
    return sign_observation(observation, private_key)
