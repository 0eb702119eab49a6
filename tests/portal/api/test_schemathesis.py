"""The API keeps every promise its OpenAPI schema makes, for any input: schemathesis generates requests
from the schema (valid and invalid) for every operation, with and without a valid token, and checks each
answer: never a 5xx, status codes, content types and bodies as documented.

The portal is called in-process through its WSGI application, on a test database holding one project
with an environment, a logged release and deployment and a signed checkpoint, so that the read paths
have something to find.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance

from portal.transparency import services as log
from portal.wsgi import application
from tests.helpers.needs import under_ci
from tests.portal import factories

EXAMPLES = 25
# Whether an index or a tree size is in range depends on the log's size, which no schema states: out of
# range is a 400 naming the bound (docs/formats/log.md), so only these skip "valid data is accepted".
BOUNDED_BY_THE_LOG = {
    "/api/v1/log/entries/{index}",
    "/api/v1/log/proof/inclusion",
    "/api/v1/log/proof/consistency",
}
# A health check's 503 is its documented answer when the broker is down (no broker runs here), not a failure.
ANSWERS_503_BY_DESIGN = {"/healthz"}


@pytest.fixture
def portal_data(db, log_key_file, keep_test_connection):
    project = factories.make_project("demo")
    environment = factories.make_environment(project)
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, version="1.0.0")
    factories.make_deployment(environment, release)
    _, raw_token = factories.make_token(project)
    log.integrate()
    return raw_token


def openapi_document():
    """The schema exactly as /api/v1/schema/ serves it (generated without a request or a database)."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture
def keep_test_connection():
    """As the test client does: a request must not close the connection that holds the test transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


schema = schemathesis.openapi.from_dict(openapi_document())
# The schema's own app, not only each call's: the probes schemathesis sends after a successful POST (the
# same request without a token, which must be refused) go through it too.
schema.app = application


def hypothesis_settings():
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=under_ci(),
        suppress_health_check=list(HealthCheck),
        database=None,
    )


@schema.parametrize()
@hypothesis_settings()
def test_api_without_a_token_keeps_its_schema(case, portal_data):
    excluded = [positive_data_acceptance] if case.operation.path in BOUNDED_BY_THE_LOG else []
    if case.operation.path in ANSWERS_503_BY_DESIGN:
        excluded.append(not_a_server_error)
    case.call_and_validate(app=application, excluded_checks=excluded)


@schema.include(method="POST").parametrize()
@hypothesis_settings()
def test_api_with_a_valid_token_keeps_its_schema(case, portal_data):
    # A body can satisfy the schema and still be refused: the envelope's signature, the statement and the
    # named project are checked against the records, which no schema can express. Every other check holds.
    case.call_and_validate(
        app=application,
        headers={"Authorization": f"Bearer {portal_data}"},
        excluded_checks=[positive_data_acceptance],
    )
