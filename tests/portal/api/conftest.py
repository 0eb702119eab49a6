"""A project that CI registers into: a trusted Ed25519 key, a production environment and a token."""

import json
from dataclasses import dataclass

import pytest
from django.test import Client

from tests.portal import factories


@dataclass
class CI:
    """What a CI job holds: the project's signing key and its API token."""

    project: object
    environment: object
    private_key: object
    signing_key: object
    raw_token: str
    client: Client

    def envelope(self, **fields):
        fields.setdefault("repo_url", self.project.repo_url)
        return factories.make_envelope(self.private_key, **fields)

    def post(self, path, body, *, token=None, content_type="application/json", **headers):
        token = self.raw_token if token is None else token
        if token:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.post(path, data=data, content_type=content_type, **headers)

    def register(self, envelope=None, version="1.0.0", *, token=None, **fields):
        envelope = envelope if envelope is not None else self.envelope()
        body = {"envelope": envelope, "version": version, **fields}
        return self.post("/api/v1/releases/", body, token=token)

    def deploy(self, release, environment="production", *, token=None, **fields):
        body = {"environment": environment, "release": release, **fields}
        return self.post("/api/v1/deployments/", body, token=token)


@pytest.fixture
def ci(db):
    project = factories.make_project("city-portal")
    environment = factories.make_environment(project)
    private_key, signing_key = factories.make_key(project)
    _, raw = factories.make_token(project)
    return CI(project, environment, private_key, signing_key, raw, Client())
