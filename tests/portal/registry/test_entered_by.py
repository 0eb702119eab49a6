"""A release and a deployment say alike who entered them: a CI token, an operator, or Vitrina itself."""

import pytest

from portal.registry.words import entered_by
from tests.portal import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return factories.make_project("city-portal")


@pytest.fixture
def private_key(project):
    private_key, _ = factories.make_key(project)
    return private_key


def test_records_entered_by_a_token_name_it_and_are_not_by_hand(project, private_key):
    token, _ = factories.make_token(project, name="GitHub Actions")
    release = factories.make_release(project, private_key, token=token)
    deployment = factories.make_deployment(factories.make_environment(project), release, token=token)
    for record in (release, deployment):
        assert record.author_token == token and record.author_user is None
        assert not record.entered_by_hand
        assert entered_by(record) == "by the pipeline token “GitHub Actions”"


def test_records_entered_by_an_operator_name_them_and_are_by_hand(project, private_key, admin_user):
    release = factories.make_release(project, private_key, user=admin_user)
    deployment = factories.make_deployment(factories.make_environment(project), release, user=admin_user)
    for record in (release, deployment):
        assert record.author_user == admin_user and record.author_token is None
        assert record.entered_by_hand
        assert entered_by(record) == "entered by hand by an operator (admin)"


def test_records_entered_by_neither_are_vitrinas_own(project, private_key):
    release = factories.make_release(project, private_key)
    deployment = factories.make_deployment(factories.make_environment(project), release)
    for record in (release, deployment):
        assert not record.entered_by_hand
        assert entered_by(record) == "by Vitrina itself"
