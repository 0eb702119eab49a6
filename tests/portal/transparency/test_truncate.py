"""PostgreSQL refuses TRUNCATE of the log's tables, as it refuses UPDATE and DELETE of their rows.

The test database disables these triggers so that transactional tests can be flushed (see
``tests/conftest.py``); each test here enables them again inside its own transaction, as production has them.
"""

import pytest
from django.db import DatabaseError, connection, transaction

from portal.transparency import services
from portal.transparency.models import AuditRun, Checkpoint, LogEntry, TreeHash
from tests.portal import factories

pytestmark = pytest.mark.django_db

LOG_TABLES = [
    "transparency_logentry",
    "transparency_treehash",
    "transparency_checkpoint",
    "transparency_auditrun",
    "transparency_auditresolution",
]


@pytest.fixture
def log(log_key_file):
    project = factories.make_project("demo")
    private_key, _ = factories.make_key(project)
    factories.make_release(project, private_key, "1.0.0")
    services.integrate()
    services.audit()


def counts():
    return [model.objects.count() for model in (LogEntry, TreeHash, Checkpoint, AuditRun)]


@pytest.mark.parametrize("table", LOG_TABLES)
def test_truncate_of_a_log_table_is_refused_on_postgresql(log, table):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; its tables are emptied with DELETE")
    before = counts()
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        # CASCADE: a table another log table refers to can only be truncated together with it.
        with pytest.raises(DatabaseError, match="append-only: TRUNCATE on transparency_"):
            with transaction.atomic():
                cursor.execute(f"TRUNCATE {table} CASCADE")
    assert counts() == before
