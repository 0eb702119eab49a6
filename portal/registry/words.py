"""Who put a record on the public record, in plain words, for the pages and the admin alike."""

from django.utils.translation import gettext


def entered_by(record):
    """Who put a release or deployment (an ``EnteredRecord``) on record: a CI pipeline's token, or an
    operator by hand."""
    user, token = record.author_user, record.author_token
    if user is not None:
        return gettext("entered by hand by an operator (%(username)s)") % {"username": user.get_username()}
    if token is not None:
        return gettext("by the pipeline token “%(name)s”") % {"name": token.name}
    return gettext("by Vitrina itself")
