"""Plain words for the pages and the admin alike: who put a record on the public record, and the names
of environments as people read them."""

from django.utils.translation import gettext, pgettext_lazy


def entered_by(record):
    """Who put a release or deployment (an ``EnteredRecord``) on record: a CI pipeline's token, or an
    operator by hand."""
    user, token = record.author_user, record.author_token
    if user is not None:
        return gettext("entered by hand by an operator (%(username)s)") % {"username": user.get_username()}
    if token is not None:
        return gettext("by the pipeline token “%(name)s”") % {"name": token.name}
    return gettext("by Vitrina itself")


# Names most projects give their environments, shown in the reader's language. Addresses keep the name.
ENVIRONMENT_NAMES = {
    "production": pgettext_lazy("environment name", "production"),
    "staging": pgettext_lazy("environment name", "staging"),
    "development": pgettext_lazy("environment name", "development"),
    "preview": pgettext_lazy("environment name", "preview"),
    "test": pgettext_lazy("environment name", "test"),
    "demo": pgettext_lazy("environment name", "demo"),
}


def environment_label(name):
    """An environment's name as people read it: a well-known name translated, any other name as is."""
    label = ENVIRONMENT_NAMES.get(name)
    return name if label is None else str(label)
