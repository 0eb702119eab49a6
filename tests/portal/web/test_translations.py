"""Every public string has a Spanish translation in the compiled catalog the site actually serves.

Strings are found the way ``makemessages`` finds them: templates go through Django's own ``templatize``
(which turns ``{% translate %}`` and ``{% blocktranslate %}`` into gettext calls), Python modules are
read for ``gettext``/``_()`` calls. A public string added without running makemessages, translating
it and compiling the catalog makes this test fail and name the string.
"""

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.utils.translation.template import templatize

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "templates"
# The pages' own modules, and the plain words they show from the rooms below (reasons, who entered a record).
PUBLIC_PYTHON = [
    ROOT / "portal" / "web",
    ROOT / "portal" / "monitoring" / "reasons.py",
    ROOT / "portal" / "monitoring" / "evidence.py",
    ROOT / "portal" / "registry" / "words.py",
]
CATALOG = ROOT / "locale" / "es" / "LC_MESSAGES" / "django.mo"
NOT_PUBLIC = {"admin", "api"}

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
