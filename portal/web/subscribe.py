"""Email subscriptions for the public: a form, a confirmation link, and a one-click unsubscribe link.

No account: an address and a choice (every project or one). The form sends exactly one email, whose
link opens a page with a button; only that POST confirms, so a mail scanner that fetches the link
confirms nothing. The form answers the same whether the address is new or already subscribed, and is
rate-limited per client address and per email address through the shared cache (no limit while the
cache is down: it saves work, it is not a gate). The rules (tokens, expiry, who hears about what) are
``monitoring.models.Subscriber``'s; the sending is ``monitoring.notifications``'.
"""

import logging

from django import forms
from django.shortcuts import render
from django.utils.crypto import salted_hmac
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from portal.monitoring import notifications
from portal.monitoring.models import Subscriber
from portal.registry.adminsite import client_address
from portal.registry.models import Project

from . import shared_cache

logger = logging.getLogger(__name__)

# (attempts, seconds): a person fixing a typo is never stopped; a script mailing strangers soon is.
LIMIT_PER_CLIENT = (10, 3600)
LIMIT_PER_ADDRESS = (3, 24 * 3600)


class SubscribeForm(forms.Form):
    email = forms.EmailField(
        label=_("Your email address"),
        max_length=254,
        error_messages={
            "invalid": _("This is not an email address. Check it and try again."),
            "required": _("Write the email address where you want the emails."),
            "max_length": _("An email address is at most 254 characters long."),
        },
    )
    project = forms.ModelChoiceField(
        label=_("Which project"),
        queryset=Project.objects.order_by("name"),
        to_field_name="slug",
        required=False,
        empty_label=_("Every project"),
        error_messages={"invalid_choice": _("There is no such project. Choose one from the list.")},
    )


def over_limit(kind, key, limit):
    """Whether ``key`` already used its ``limit`` (attempts, seconds); if not, count this attempt.

    Each attempt takes one of ``attempts`` slots that expire ``seconds`` after it was taken; ``add``
    takes a slot atomically, so concurrent requests cannot share one. Keys are keyed hashes, so the cache
    never holds an email address.
    """
    attempts, seconds = limit
    name = salted_hmac("vitrina-subscribe-limit", f"{kind}:{key}").hexdigest()[:32]
    return not any(shared_cache.add(f"subscribe:{name}:{slot}", 1, seconds) for slot in range(attempts))


@require_http_methods(["GET", "POST"])
def subscribe(request):
    """GET: the form (``?project=slug`` preselects a project). POST: send the one email."""
    if request.method == "GET":
        form = SubscribeForm(initial={"project": request.GET.get("project", "")})
        return render(request, "web/subscribe.html", {"form": form})
    form = SubscribeForm(request.POST)
    if over_limit("client", client_address(request), LIMIT_PER_CLIENT):
        return limited(request, form)
    if not form.is_valid():
        return render(request, "web/subscribe.html", {"form": form}, status=400)
    if over_limit("address", form.cleaned_data["email"].lower(), LIMIT_PER_ADDRESS):
        return limited(request, form)
    subscriber, token = Subscriber.subscribe(
        form.cleaned_data["email"], form.cleaned_data["project"], get_language()
    )
    try:
        notifications.send_confirmation(subscriber, token)
    except notifications.DeliveryFailed as exc:
        logger.warning("Subscription form: %s", exc)
        error = _("We could not send the email just now. Please try again in a few minutes.")
        return render(request, "web/subscribe.html", {"form": form, "error": error}, status=503)
    return render(request, "web/subscribe.html", {"sent": True, "project": form.cleaned_data["project"]})


def limited(request, form):
    error = _(
        "Too many subscription requests from here or for this address. Please wait a few hours, then try "
        "again."
    )
    response = render(request, "web/subscribe.html", {"form": form, "error": error}, status=429)
    response["Retry-After"] = str(LIMIT_PER_CLIENT[1])
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request, token):
    """GET: a page with a button; POST (the button): confirm. Only the POST confirms."""
    subscriber = Subscriber.awaiting(token)
    if subscriber is None:
        return render(request, "web/subscribe_confirm.html", {"state": "invalid"}, status=404)
    if subscriber.expired():
        return render(request, "web/subscribe_confirm.html", {"state": "expired"}, status=410)
    if request.method == "POST":
        subscriber.confirm()
        state = "confirmed"
    else:
        state = "ask"
    return render(request, "web/subscribe_confirm.html", {"state": state, "subscriber": subscriber})


# No CSRF token: RFC 8058's one-click POST comes from the mail provider, not from our page. The link's
# HMAC token is what authorises it, and unsubscribing is all it can do.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request, pk, token):
    """GET: a page with a button; POST (the button, or the mail client's one click): delete the row."""
    if not Subscriber.unsubscribe_link_is_valid(pk, token):
        return render(request, "web/subscribe_unsubscribe.html", {"state": "invalid"}, status=404)
    subscriber = Subscriber.objects.select_related("project").filter(pk=pk).first()
    if request.method == "POST" or subscriber is None:
        Subscriber.objects.filter(pk=pk).delete()
        return render(request, "web/subscribe_unsubscribe.html", {"state": "done"})
    return render(request, "web/subscribe_unsubscribe.html", {"state": "ask", "subscriber": subscriber})
