"""Shared fixtures. Portal tests use pytest-django's ``db``; verifier tests need no Django at all."""

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.helpers.liveserver", "tests.helpers.gitserver"]

ROOT = Path(__file__).resolve().parent.parent
SHARED_TESTDATA = ROOT.parent / "shared" / "testdata"


@pytest.fixture(autouse=True)
def empty_cache():
    """Every test starts with nothing cached (pages and badges keep answers for a few seconds)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def english_by_default(request):
    """Tests written before Spanish became the default read English pages: they get "en" as the default.

    The site's default is Spanish (``VITRINA_LANGUAGE``); a test that asks for the fixture
    ``site_default_language`` sees that real default instead (tests/portal/web/test_i18n.py).
    """
    if "site_default_language" in request.fixturenames:
        yield
        return
    settings = request.getfixturevalue("settings")
    settings.LANGUAGE_CODE = "en"
    yield


@pytest.fixture
def site_default_language():
    """The site's configured default language, not the tests' English (see ``english_by_default``)."""
    from django.conf import settings

    return settings.LANGUAGE_CODE


@pytest.fixture
def log_key_file(tmp_path, settings):
    """A fresh log signing key file for the test, as ``make run`` would generate it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = tmp_path / "log-signing.key"
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    os.chmod(path, 0o600)
    settings.VITRINA_LOG_KEY_FILE = str(path)
    return path


@pytest.fixture(autouse=True)
def log_key_for_database_tests(request):
    """Every test that uses the database has a log signing key, as a portal has from its first start: the
    log sequences entries (gives them their index) with it, when asked for a record's entry or after a
    commit. A test about a missing or broken key sets ``VITRINA_LOG_KEY_FILE`` itself."""
    if request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames):
        request.getfixturevalue("log_key_file")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, with the log's TRUNCATE triggers disabled there only.

    pytest-django empties the database after each transactional test with TRUNCATE, which production
    refuses on the log's tables (migration 0004). Only the TRUNCATE triggers are disabled, and only in
    the test database: UPDATE and DELETE stay refused, and ``test_truncate.py`` enables them again.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                r"SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE tgname LIKE '%\_no\_truncate'"
            )
            for table, trigger in cursor.fetchall():
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
