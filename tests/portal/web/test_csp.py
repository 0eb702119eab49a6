"""Pages work under a strict CSP: no inline script body, no style attribute, no asset from elsewhere."""

import re

import pytest

from portal.monitoring.models import Status
from tests.portal import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def urls(django_user_model):
    project = factories.make_project("city-portal")
    environment = factories.make_environment(project)
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "1.0.0")
    deployment = factories.make_deployment(
        environment, release, user=django_user_model.objects.create_user("op")
    )
    Status.objects.create(environment=environment, result="mismatch", reason="commit_missing")
    return [
        "/",
        "/verify/",
        project.get_absolute_url(),
        environment.get_absolute_url(),
        release.get_absolute_url(),
        deployment.get_absolute_url(),
    ]


def test_every_page_sends_the_strict_content_security_policy(client, urls):
    for url in urls:
        policy = client.get(url).headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "style-src 'self'" in policy


def test_no_page_has_inline_script_inline_style_or_external_asset(client, urls):
    for url in urls:
        html = client.get(url).content.decode()
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
        assert scripts, url
        for attributes, body in scripts:
            assert 'src="/static/' in attributes and "defer" in attributes
            assert body.strip() == "", url
        assert not re.search(r"\sstyle\s*=", html), url
        assert "<style" not in html, url
        assert not re.search(r"\son[a-z]+\s*=", html), url
        # A rel="alternate" link names a feed for feed readers; a browser loads nothing from it.
        links = re.findall(r'<link\b(?![^>]*rel="alternate")[^>]*\shref="([^"]*)"', html)
        assets = re.findall(r'\ssrc="([^"]*)"', html) + links
        assert assets and all(asset.startswith("/static/") for asset in assets), (url, assets)


def test_the_language_switch_is_a_link_per_language_and_pages_hold_no_csrf_token(client, urls):
    for url in urls:
        response = client.get(url)
        html = response.content.decode()
        switch = re.search(r'<p class="language">(.*?)</p>', html, re.S)
        assert switch, url
        assert 'href="/language/es/?next=' in switch.group(1), url
        assert 'href="/language/en/?next=' in switch.group(1), url
        # Nothing of the reader's own: the same page can be answered to every reader of its language.
        assert "csrfmiddlewaretoken" not in html, url
        assert "csrftoken" not in response.cookies, url


def test_pages_are_semantic_and_have_a_skip_link(client, urls):
    for url in urls:
        html = client.get(url).content.decode()
        for tag in ("<header", "<nav", '<main id="main"', "<footer"):
            assert tag in html, (url, tag)
        assert '<a class="skip-link" href="#main">' in html
        assert '<html lang="en">' in html
        assert "<th>" not in html and "<th >" not in html  # every header cell has a scope
