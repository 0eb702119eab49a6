"""What a page offers to follow and to embed: the Atom feeds it links (the site's, and its project's) and
a project's badge snippets, ready to paste into a README or a web page.

Addresses are built on ``SITE_URL``, as the feeds' own links are, so a snippet pasted elsewhere points
back here whatever host name served the page. Feeds and badges are asked for in the page's language
(``?lang=``), which both honour.
"""

from dataclasses import dataclass

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils.translation import get_language, gettext

from portal.registry.words import environment_label

register = template.Library()


@dataclass(frozen=True)
class Feed:
    title: str
    url: str


@dataclass(frozen=True)
class BadgeSnippet:
    title: str
    image: str
    target: str
    alt: str

    @property
    def markdown(self):
        return f"[![{self.alt}]({self.image})]({self.target})"

    @property
    def html(self):
        return f'<a href="{self.target}"><img src="{self.image}" alt="{self.alt}"></a>'


def in_language(path):
    return f"{path}?lang={get_language()}"


@register.simple_tag
def feeds(project=None):
    """The feeds a page links: its project's two (when it belongs to one), then the whole site's two."""
    listed = []
    if project is not None:
        names = {"project": project.name}
        listed += [
            Feed(
                gettext("Status changes of %(project)s") % names,
                in_language(reverse("share:project-status-feed", args=[project.slug])),
            ),
            Feed(
                gettext("Deployments of %(project)s") % names,
                in_language(reverse("share:project-deployments-feed", args=[project.slug])),
            ),
        ]
    return listed + [
        Feed(gettext("Vitrina status changes"), in_language(reverse("share:status-feed"))),
        Feed(gettext("Vitrina deployments"), in_language(reverse("share:deployments-feed"))),
    ]


@register.simple_tag
def badge_snippets(project):
    """The project's badge (the worst of its environments), then one per environment by name; one query.
    Rendered inside the project page's cached body, so the snippets list the environments its table does."""
    site = settings.SITE_URL
    snippets = [
        BadgeSnippet(
            gettext("The whole project"),
            site + in_language(reverse("share:project-badge", args=[project.slug])),
            site + project.get_absolute_url(),
            gettext("Vitrina status of %(project)s") % {"project": project.name},
        )
    ]
    for environment in project.environments.order_by("name"):
        environment.project = project
        label = environment_label(environment.name)
        snippets.append(
            BadgeSnippet(
                label,
                site + in_language(reverse("share:environment-badge", args=[project.slug, environment.name])),
                site + environment.get_absolute_url(),
                gettext("Vitrina status of %(project)s in %(environment)s")
                % {"project": project.name, "environment": label},
            )
        )
    return snippets
