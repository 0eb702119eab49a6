"""Every public page offers its feeds, to feed readers (``<link rel="alternate">``) and to people (a visible
"Subscribe" area with the email sign-up), and a project page offers its badges as snippets to paste."""

import html
import re

import pytest

from tests.portal import factories

pytestmark = pytest.mark.django_db

SITE = "https://vitrina.example.org"
ATOM_LINK = re.compile(r'<link rel="alternate" type="application/atom\+xml" title="([^"]+)" href="([^"]+)">')


@pytest.fixture
def site(settings):
    settings.SITE_URL = SITE
    project = factories.make_project("city-portal", name="City Portal")
    production = factories.make_environment(project, "production")
    factories.make_environment(project, "staging")
    private_key, _ = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.4.1")
    deployment = factories.make_deployment(production, release)
    return {
        "project": project,
        "site pages": ["/", "/verify/", "/log/", "/api/v1/docs/", "/p/no-such-project/"],
        "project pages": [
            project.get_absolute_url(),
            production.get_absolute_url(),
            release.get_absolute_url(),
            deployment.get_absolute_url(),
        ],
    }


def page(client, url, language):
    return client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()


def feed_links(text):
    return {html.unescape(href): html.unescape(title) for title, href in ATOM_LINK.findall(text)}


@pytest.mark.parametrize("language", ["es", "en"])
def test_every_page_links_the_site_feeds_in_its_language_for_feed_readers(client, site, language):
    for url in site["site pages"] + site["project pages"]:
        links = feed_links(page(client, url, language))

        assert f"/feeds/status.atom?lang={language}" in links, url
        assert f"/feeds/deployments.atom?lang={language}" in links, url


def test_a_project_s_pages_also_link_its_own_two_feeds(client, site):
    for url in site["project pages"]:
        links = feed_links(page(client, url, "en"))

        assert links["/p/city-portal/feeds/status.atom?lang=en"] == "Status changes of City Portal", url
        assert links["/p/city-portal/feeds/deployments.atom?lang=en"] == "Deployments of City Portal", url
    assert not any("/p/" in href for href in feed_links(page(client, "/", "en")))


def test_each_linked_feed_answers_atom_in_the_language_asked_for(client, site):
    for href in feed_links(page(client, site["project"].get_absolute_url(), "es")):
        response = client.get(href)

        assert response.status_code == 200, href
        assert response["Content-Type"].startswith("application/atom+xml"), href
        assert response["Content-Language"] == "es", href


@pytest.mark.parametrize(("language", "heading"), [("es", "Suscribirse"), ("en", "Subscribe")])
def test_every_page_has_a_visible_subscribe_area_with_the_feeds_and_the_email_sign_up(
    client, site, language, heading
):
    for url in site["site pages"] + site["project pages"]:
        text = page(client, url, language)
        area = re.search(r'<section class="subscribe" id="subscribe".*?</section>', text, re.S)

        assert area, url
        assert f'<h2 id="subscribe-title">{heading}</h2>' in area.group(0), url
        assert f'href="/feeds/status.atom?lang={language}"' in area.group(0), url
        email = '/subscribe/?project=city-portal"' if url in site["project pages"] else '/subscribe/"'
        assert f'href="{email}' in area.group(0), url


def snippets(text):
    """The copyable blocks of the badges section, as plain text."""
    section = re.search(r'<section class="badge-snippets".*?</section>', text, re.S).group(0)
    blocks = re.findall(
        r'<div class="command-block" data-copy="[^"]+".*?<pre[^>]*><code>(.*?)</code></pre>', section, re.S
    )
    return [html.unescape(block) for block in blocks]


def test_the_project_page_offers_markdown_and_html_badge_snippets_for_the_project_and_each_environment(
    client, site
):
    blocks = snippets(page(client, "/p/city-portal/", "en"))

    badge = f"{SITE}/badge/city-portal/production.svg?lang=en"
    target = f"{SITE}/p/city-portal/production/"
    assert blocks == [
        f"[![Vitrina status of City Portal]({SITE}/badge/city-portal.svg?lang=en)]({SITE}/p/city-portal/)",
        f'<a href="{SITE}/p/city-portal/"><img src="{SITE}/badge/city-portal.svg?lang=en" '
        'alt="Vitrina status of City Portal"></a>',
        f"[![Vitrina status of City Portal in production]({badge})]({target})",
        f'<a href="{target}"><img src="{badge}" alt="Vitrina status of City Portal in production"></a>',
        f"[![Vitrina status of City Portal in staging]({SITE}/badge/city-portal/staging.svg?lang=en)]"
        f"({SITE}/p/city-portal/staging/)",
        f'<a href="{SITE}/p/city-portal/staging/"><img src="{SITE}/badge/city-portal/staging.svg?lang=en" '
        'alt="Vitrina status of City Portal in staging"></a>',
    ]


def test_each_snippet_s_badge_and_link_answer(client, site):
    text = page(client, "/p/city-portal/", "es")
    urls = {url for block in snippets(text) for url in re.findall(rf"{SITE}(/[^)\"\s]+)", block)}

    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        if ".svg" in url:
            assert response["Content-Type"].startswith("image/svg+xml"), url
            assert "not checked" not in response.content.decode(), "the badge speaks the page's language"


def test_the_snippets_are_spanish_on_the_spanish_page(client, site):
    blocks = snippets(page(client, "/p/city-portal/", "es"))

    assert blocks[0].startswith("[![")
    assert "?lang=es" in blocks[0]
    assert "Vitrina status" not in "".join(blocks)
    assert "[![Estado en Vitrina de City Portal en producción](" in blocks[2]
