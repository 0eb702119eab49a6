"""Every public string, and every string of the operators' admin, has a Spanish translation in the
compiled catalog the site actually serves.

Strings are found the way ``makemessages`` finds them: templates go through Django's own ``templatize``
(which turns ``{% translate %}`` and ``{% blocktranslate %}`` into gettext calls), Python modules are
read for ``gettext``/``_()`` calls. A public string added without running makemessages, translating
it and compiling the catalog makes this test fail and name the string.

The admin speaks through the models: every field's name and help text, every model's name and every
app's label must be translatable and translated. And the pages themselves are rendered in Spanish with a
small dataset, and their text searched for any English sentence of the catalog left untranslated.
"""

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.db import models as django_models
from django.utils.functional import Promise
from django.utils.html import strip_tags
from django.utils.translation import trans_real
from django.utils.translation.template import templatize

from portal.monitoring.models import Observation, Status
from tests.portal import factories

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "templates"
# The pages' own modules, the plain words they show from the rooms below (reasons, who entered a record),
# and the admin's modules.
PUBLIC_PYTHON = [
    ROOT / "portal" / "web",
    ROOT / "portal" / "http.py",
    ROOT / "portal" / "monitoring" / "reasons.py",
    ROOT / "portal" / "monitoring" / "evidence.py",
    ROOT / "portal" / "registry" / "words.py",
    ROOT / "portal" / "registry" / "admin.py",
    ROOT / "portal" / "registry" / "adminsite.py",
    ROOT / "portal" / "registry" / "forms.py",
    ROOT / "portal" / "monitoring" / "admin.py",
]
CATALOG = ROOT / "locale" / "es" / "LC_MESSAGES" / "django.mo"
NOT_PUBLIC = {"api"}
OUR_APPS = ("registry", "transparency", "monitoring", "api", "web")

_LITERAL = r"""u?(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_CALL = re.compile(rf"\b(gettext|ngettext|pgettext|npgettext)\(\s*({_LITERAL}(?:\s*,\s*{_LITERAL})*)")
_GETTEXT_NAMES = {
    "_": "gettext",
    "gettext": "gettext",
    "gettext_lazy": "gettext",
    "ngettext": "ngettext",
    "ngettext_lazy": "ngettext",
    "pgettext": "pgettext",
    "pgettext_lazy": "pgettext",
    "npgettext": "npgettext",
    "npgettext_lazy": "npgettext",
}


def public_templates():
    return sorted(
        path
        for path in TEMPLATES.rglob("*")
        if path.is_file() and not NOT_PUBLIC.intersection(path.relative_to(TEMPLATES).parts)
    )


def template_messages(source):
    """(function, args) for each translatable string of a template, as gettext would see it."""
    return [
        (function, ast.literal_eval(f"({args},)")) for function, args in _CALL.findall(templatize(source))
    ]


def python_messages(source):
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in _GETTEXT_NAMES or not node.args:
            continue
        args = []
        for arg in node.args:
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                break
            args.append(arg.value)
        if args:
            found.append((_GETTEXT_NAMES[name], tuple(args)))
    return found


def catalog_keys(function, args):
    """The keys under which a compiled catalog stores the translation(s) of one message."""
    if function == "gettext":
        return [args[0]]
    if function == "pgettext":
        return [f"{args[0]}\x04{args[1]}"]
    if function == "ngettext":
        return [(args[0], 0), (args[0], 1)]
    return [(f"{args[0]}\x04{args[1]}", 0), (f"{args[0]}\x04{args[1]}", 1)]


def untranslated(messages, catalog):
    """The messages without a non-empty translation in ``catalog`` (a GNUTranslations)."""
    return sorted(
        {
            args[1] if function.startswith("p") else args[0]
            for function, args in messages
            if not all(catalog._catalog.get(key) for key in catalog_keys(function, args))
        }
    )


@pytest.fixture(scope="module")
def spanish():
    with open(CATALOG, "rb") as f:
        return gettext.GNUTranslations(f)


def all_public_messages():
    messages = []
    for path in public_templates():
        messages += [(path, m) for m in template_messages(path.read_text(encoding="utf-8"))]
    for path in sorted(
        path for place in PUBLIC_PYTHON for path in ([place] if place.is_file() else place.rglob("*.py"))
    ):
        messages += [(path, m) for m in python_messages(path.read_text(encoding="utf-8"))]
    return messages


def test_every_public_template_and_web_module_string_has_a_spanish_translation(spanish):
    messages = all_public_messages()
    missing = {}
    for path, message in messages:
        for text in untranslated([message], spanish):
            missing.setdefault(str(path.relative_to(ROOT)), []).append(text)
    assert missing == {}, "run makemessages, translate these, compilemessages: " + repr(missing)


def test_the_scan_reaches_every_kind_of_public_string():
    """Guard against a scan that silently finds nothing: known strings of each kind are extracted."""
    found = {args for _path, (_function, args) in all_public_messages()}
    assert ("Verify it yourself",) in found  # {% translate %} in base.html
    assert ("What was running at a given moment?",) in found  # the environment page
    assert ("Transparency log",) in found  # the log page
    assert ("log entry #%(index)s",) in found  # {% blocktranslate %} with a variable
    assert (
        "The last check, newest first (choose one for its details):",
        "The last %(checks)s checks, newest first (choose one for its details):",
    ) in found  # plural
    assert ("That moment is in the future: the records can only tell what ran in the past.",) in found  # .py
    assert ("We could not reach the server.",) in found  # gettext_lazy as _ in reasons.py
    assert any(path.suffix == ".svg" for path in public_templates())


def test_a_new_untranslated_string_would_be_reported(spanish):
    template = '{% load i18n %}<p>{% translate "A sentence nobody translated yet" %}</p>'
    template += (
        "{% blocktranslate count n=3 %}one new thing{% plural %}{{ n }} new things{% endblocktranslate %}"
    )
    module = 'from django.utils.translation import gettext_lazy as _\nX = _("Another new sentence")\n'
    messages = template_messages(template) + python_messages(module)
    assert untranslated(messages, spanish) == [
        "A sentence nobody translated yet",
        "Another new sentence",
        "one new thing",
    ]
    assert untranslated(template_messages('{% load i18n %}{% translate "Projects" %}'), spanish) == []


def lazy_message(value):
    """(function, args) of a lazy translation (``gettext_lazy("...")``), or None for a plain string."""
    if not isinstance(value, Promise):
        return None
    args = value._args
    return ("pgettext" if len(args) == 2 else "gettext", args)


def model_texts():
    """(where, value) for every text the admin shows of our models: app labels, model names, field names
    and help texts, and choice labels."""
    texts = []
    for app in OUR_APPS:
        config = apps.get_app_config(app)
        texts.append((f"{app} app label", config.verbose_name))
        for model in config.get_models():
            where = f"{app}.{model.__name__}"
            texts.append((f"{where} verbose_name", model._meta.verbose_name))
            texts.append((f"{where} verbose_name_plural", model._meta.verbose_name_plural))
            for field in model._meta.get_fields():
                if field.auto_created:
                    continue
                texts.append((f"{where}.{field.name} verbose_name", field.verbose_name))
                if field.help_text:
                    texts.append((f"{where}.{field.name} help_text", field.help_text))
                for _value, label in getattr(field, "choices", None) or []:
                    if isinstance(label, Promise):
                        texts.append((f"{where}.{field.name} choice", label))
    return texts


def untranslated_model_texts(catalog):
    problems = []
    for where, value in model_texts():
        message = lazy_message(value)
        if message is None:
            problems.append(f"{where}: {value!r} is not translatable")
        elif untranslated([message], catalog):
            problems.append(f"{where}: {message[1][-1]!r} has no Spanish translation")
    return problems


@pytest.mark.django_db
def test_every_model_field_and_app_label_of_the_admin_is_translated(spanish):
    assert untranslated_model_texts(spanish) == []


def test_the_model_scan_reaches_fields_models_apps_and_choices():
    found = dict(model_texts())
    assert str(found["registry.ApiToken verbose_name"]) == "API token"
    assert str(found["registry.Release.artifact_digest verbose_name"]) == "artifact digest"
    assert str(found["monitoring.Observation verbose_name_plural"]) == "observations"
    assert str(found["transparency app label"]) == "Transparency log"
    assert any(where.endswith("kind choice") for where in found)


def test_a_field_without_a_translatable_name_would_be_reported(spanish):
    class Probe(django_models.Model):
        plain_field = django_models.CharField(max_length=1)

        class Meta:
            app_label = "web"

        def __str__(self):
            return self.plain_field

    try:
        assert "web.Probe.plain_field verbose_name: 'plain field' is not translatable" in (
            untranslated_model_texts(spanish)
        )
    finally:
        del apps.all_models["web"]["probe"]
        apps.clear_cache()


def test_the_admin_is_titled_in_spanish(admin_client):
    html = admin_client.get("/admin/", headers={"accept-language": "es"}).content.decode()
    assert "Administración de Vitrina" in html
    assert "Administración de Django" not in html
    assert "Tokens de API" in html
    assert "Proyectos" in html


# Text a page may show as is in any language: addresses, digests and hex, commands and paths.
_AS_IS = re.compile(r"\S*(?:https?://|/|sha256:|\.py\b|--)\S*|\b[0-9a-f]{7,}\b")
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")


def page_text(html):
    """What a reader sees of a page: text without tags, scripts, addresses or digests, spaces folded."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(_AS_IS.sub(" ", strip_tags(html)).split())


def english_sentences(catalog):
    """Patterns of the catalog's English messages whose Spanish differs: the words a Spanish page must
    not show. Messages of a single short word are left out (a project may be called "Demo")."""
    patterns = {}
    for key, translation in catalog._catalog.items():
        msgid = key[0] if isinstance(key, tuple) else key
        msgid = msgid.split("\x04")[-1]
        if not msgid or msgid == translation or len(msgid.split()) < 2:
            continue
        pieces = [" ".join(piece.split()) for piece in _PLACEHOLDER.split(msgid)]
        pieces = [piece for piece in pieces if len(piece.split()) >= 2 or len(piece) >= 12]
        if pieces:
            patterns[msgid] = re.compile(".+?".join(re.escape(piece) for piece in pieces))
    return patterns


def untranslated_on(text, patterns):
    return sorted(msgid for msgid, pattern in patterns.items() if pattern.search(text))


@pytest.fixture
def dataset(db):
    """One project with two environments (one well-known name, one not), a release, a deployment, a
    red check and a log with every kind of entry the pages link."""
    project = factories.make_project("city-portal", name="City Portal", description="Permisos en línea.")
    production = factories.make_environment(project, "production")
    factories.make_environment(project, "canary-7")
    private_key, key = factories.make_key(project)
    release = factories.make_release(project, private_key, "2.4.1")
    deployment = factories.make_deployment(production, release)
    observation = Observation.objects.create(
        environment=production,
        checked_at=deployment.deployed_at,
        result="mismatch",
        reason="unregistered_artifact",
        live_digest="sha256:" + "b" * 64,
        changed_status=True,
    )
    Status.objects.update_or_create(
        environment=production,
        defaults={
            "result": "mismatch",
            "reason": "unregistered_artifact",
            "checked_at": observation.checked_at,
        },
    )
    return project, production, release, deployment


def public_pages(project, production, release, deployment):
    return [
        "/",
        project.get_absolute_url(),
        production.get_absolute_url(),
        release.get_absolute_url(),
        deployment.get_absolute_url(),
        "/log/",
        "/verify/",
        "/p/no-such-project/",
    ]


def test_every_public_page_in_spanish_shows_no_english_sentence_of_the_catalog(
    client, dataset, spanish, site_default_language
):
    patterns = english_sentences(spanish)
    found = {}
    for url in public_pages(*dataset):
        html = client.get(url).content.decode()
        assert '<html lang="es"' in html, url
        if untranslated := untranslated_on(page_text(html), patterns):
            found[url] = untranslated
    assert found == {}


def test_removing_one_translation_makes_the_page_check_fail(client, dataset, spanish):
    """The check is not vacuous: without the Spanish of one sentence the home page shows, it is found."""
    sentence = "Verify it yourself"
    catalogs = trans_real.translation("es")._catalog._catalogs
    held = next(catalog for catalog in catalogs if sentence in catalog)
    translation = held.pop(sentence)
    try:
        html = client.get("/", headers={"accept-language": "es"}).content.decode()
    finally:
        held[sentence] = translation
    assert sentence in untranslated_on(page_text(html), english_sentences(spanish))


def test_environment_names_are_shown_translated_and_addresses_keep_the_name(client, dataset):
    html = client.get("/p/city-portal/", headers={"accept-language": "es"}).content.decode()
    assert '<a href="/p/city-portal/production/">producción</a>' in html
    assert '<a href="/p/city-portal/canary-7/">canary-7</a>' in html
    english = client.get("/p/city-portal/", headers={"accept-language": "en"}).content.decode()
    assert '<a href="/p/city-portal/production/">production</a>' in english
    release = client.get("/p/city-portal/releases/2.4.1/", headers={"accept-language": "es"}).content.decode()
    assert '<a href="/p/city-portal/production/">producción</a>' in release
    found = client.get("/search/?q=2.4.1", headers={"accept-language": "es"}).content.decode()
    assert '<a href="/p/city-portal/production/">producción</a>' in found
