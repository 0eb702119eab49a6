"""After a failed self-audit the log fails closed: the API refuses new releases and deployments with 503,
writing nothing, until an operator resolves it with ``manage.py resolveaudit``."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from portal.registry.models import Release
from portal.transparency import services
from tests.portal import factories
from tests.portal.api.support import error_of, writes_nothing


def set_artifact_name(release, name):
    """Edit a release behind the application's back, as someone with database access could."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_release SET artifact_name = %s WHERE id = %s", [name, release.pk])


@pytest.fixture
def tampered(ci, log_key_file):
    """Two registered releases; the first edited in the database and caught by the real self-audit."""
    first = factories.make_release(ci.project, ci.private_key, "1.0.0")
    factories.make_release(ci.project, ci.private_key, "1.1.0")
    services.integrate()
    set_artifact_name(first, "forged.tar.gz")
    run = services.audit()
    assert not run.ok
    return first


def assert_log_closed(response):
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "log_closed"
    assert "failed its self-audit" in error["message"]
    assert "operator" in error["message"]
    assert error["fields"] == {}


def test_a_release_is_refused_with_503_while_the_failed_audit_is_unresolved(ci, tampered):
    with writes_nothing():
        response = ci.register(ci.envelope(), version="2.0.0")
    assert_log_closed(response)
    assert not Release.objects.filter(version="2.0.0").exists()


def test_a_deployment_is_refused_with_503_while_the_failed_audit_is_unresolved(ci, tampered):
    with writes_nothing():
        response = ci.deploy("1.1.0")
    assert_log_closed(response)


def test_resolving_after_repair_reopens_the_log(ci, tampered):
    set_artifact_name(tampered, tampered.artifact_name)  # restored from a backup
    call_command("resolveaudit", note="release 1.0.0 restored from last night's backup")

    assert ci.register(ci.envelope(), version="2.0.0").status_code == 201
    assert ci.deploy("2.0.0").status_code == 201


def test_resolving_without_repair_fails_and_the_log_stays_closed(ci, tampered):
    with pytest.raises(CommandError, match="still fails.*forged.tar.gz"):
        call_command("resolveaudit", note="looked fine to me")

    assert_log_closed(ci.deploy("1.1.0"))


def test_a_passing_periodic_audit_alone_does_not_reopen_the_log(ci, tampered):
    set_artifact_name(tampered, tampered.artifact_name)
    assert services.audit().ok

    assert_log_closed(ci.deploy("1.1.0"))
