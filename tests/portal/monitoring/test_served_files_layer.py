"""The served-files layer of a check: the scripts and style sheets a site really serves, compared with
the deployed release's signed list, turn the light red within one check, naming the file."""

import hashlib

import pytest

from portal.monitoring.models import Status
from portal.monitoring.runner import check_environment
from tests.helpers.site import SiteServer, css, js, page, served_list
from tests.portal import factories

INDEX = (
    '<!doctype html><title>Vote</title><link rel="stylesheet" href="/static/site.css">'
    '<script src="/static/app.js"></script><script>boot()</script>'
)
FILES = {"/": page(INDEX), "/static/app.js": js(b"function boot() {}"), "/static/site.css": css(b"body{}")}
BOOT = hashlib.sha256(b"boot()").hexdigest()


@pytest.fixture
def site(watched):
    """The watched environment also serves a web site whose release lists its files."""
    with SiteServer(FILES) as server:
        release = factories.make_release(
            watched.project,
            watched.private_key,
            "2.0.0",
            commit=watched.shas[-1],
            served_files=served_list(FILES),
            inline_scripts=[BOOT],
        )
        factories.make_deployment(watched.environment, release)
        watched.serve(release)
        watched.environment.site_url = server.base_url
        watched.environment.save()
        yield server


def test_site_serving_the_release_files_is_green_with_the_count(site, watched):
    observation = check_environment(watched.environment)
    assert observation.result == "verified", observation.message
    layer = observation.layers["served_files"]
    assert (layer["result"], layer["reason"]) == ("verified", "served_files_verified")
    assert (layer["checked"], layer["matched"]) == (2, 2)
    assert Status.objects.get(environment=watched.environment).layers["served_files"]["matched"] == 2


def test_swapped_javascript_file_turns_red_naming_the_file(site, watched):
    site.files["/static/app.js"] = js(b"function boot() { steal() }")
    observation = check_environment(watched.environment)
    assert (observation.result, observation.reason) == ("mismatch", "served_file_mismatch")
    assert "/static/app.js" in observation.message
    assert hashlib.sha256(b"function boot() { steal() }").hexdigest() in observation.message


def test_injected_script_turns_red(site, watched):
    site.files["/"] = page(INDEX + '<script src="/static/tracker.js"></script>')
    site.files["/static/tracker.js"] = js(b"track()")
    observation = check_environment(watched.environment)
    assert (observation.result, observation.reason) == ("mismatch", "unknown_served_file")
    assert "/static/tracker.js" in observation.message


def test_undeclared_inline_script_is_red_only_when_the_project_requires_them_declared(site, watched):
    site.files["/"] = page(INDEX + "<script>steal()</script>")
    assert check_environment(watched.environment).reason == "unknown_served_file"
    watched.project.inline_scripts_must_be_declared = False
    watched.project.save()
    watched.environment.refresh_from_db()
    assert check_environment(watched.environment).result == "verified"


def test_a_layer_the_project_does_not_require_is_shown_but_keeps_the_light(site, watched):
    watched.project.require_served_files = False
    watched.project.save()
    watched.environment.refresh_from_db()
    site.files["/static/app.js"] = js(b"other()")
    observation = check_environment(watched.environment)
    assert observation.result == "verified"
    assert observation.layers["served_files"]["reason"] == "served_file_mismatch"


def test_unreadable_site_is_amber_not_red(site, watched):
    site.files.pop("/")
    observation = check_environment(watched.environment)
    assert observation.result == "unverifiable"
    assert observation.layers["served_files"]["result"] == "unverifiable"


def test_environment_without_site_has_no_served_files_layer(watched):
    observation = check_environment(watched.environment)
    assert observation.result == "verified"
    assert "served_files" not in observation.layers


def test_environment_page_shows_the_ladder_with_the_served_files(site, watched, client):
    check_environment(watched.environment)
    html = client.get(watched.environment.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="layer-served_files"' in html
    assert "2 of 2 files the site serves match" in html
    site.files["/static/app.js"] = js(b"evil()")
    check_environment(watched.environment)
    html = client.get(watched.environment.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "/static/app.js" in html
