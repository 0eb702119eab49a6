"""Admin for monitoring: the public's email subscribers (counted, addresses masked); notification channels
(editable), observations and deliveries (read-only), and the environment's form with its current light.

The observations table grows by one row per check (hundreds of thousands a year): its list never counts
the whole table, and orders by the index it is read through.
"""

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.template.loader import render_to_string
from django.utils.functional import cached_property
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from portal.registry.admin import EnvironmentAdmin as RegistryEnvironmentAdmin
from portal.registry.models import Environment

from . import notifications
from .models import Delivery, NotificationChannel, Observation, Status, Subscriber, status_of

# Beyond this many rows a list says "more than N" instead of counting them all.
COUNT_LIMIT = 10_000


class ReadOnlyAdmin(admin.ModelAdmin):
    """What the workers saw is a record, not something to edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CappedCountPaginator(Paginator):
    """A paginator that counts at most ``COUNT_LIMIT + 1`` rows: past that, the last page is not offered.

    ``COUNT(*)`` over a large table reads every row; counting a bounded subquery reads at most the cap.
    """

    @cached_property
    def count(self):
        return self.object_list[: COUNT_LIMIT + 1].count()


admin.site.unregister(Environment)


@admin.register(Environment)
class EnvironmentAdmin(RegistryEnvironmentAdmin):
    """The registry's environment form, with what the public sees of it now: the light and its reason."""

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return [*fields, "current_light"] if obj is not None else fields

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "current_light"] if obj is not None else fields

    @admin.display(description=_("current light"))
    def current_light(self, environment):
        return render_to_string("admin/monitoring/light.html", {"status": status_of(environment)})


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "project", "url", "email", "enabled", "created_at"]
    list_filter = ["kind", "enabled", "project"]
    search_fields = ["name", "url", "email"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change and obj.kind == NotificationChannel.Kind.WEBHOOK:
            messages.warning(
                request,
                gettext(
                    "Webhook key of “%(name)s”: %(key)s — copy it now into the receiver; it is shown only "
                    "this once. Receivers check X-Vitrina-Signature: sha256=HMAC-SHA256(key, body)."
                )
                % {"name": obj.name, "key": obj.webhook_key()},
            )


@admin.register(Observation)
class ObservationAdmin(ReadOnlyAdmin):
    fields = [
        "environment",
        "checked_at",
        "result",
        "reason",
        "message",
        "live_digest",
        "live_commit",
        "live_version",
        "expected_digest",
        "expected_release",
        "live_release",
        "http_status",
        "ahead_by",
        "duration_ms",
    ]
    list_display = ["environment", "checked_at", "result", "reason", "changed_status", "duration_ms"]
    list_filter = ["result", "reason", "changed_status"]
    search_fields = ["environment__project__slug", "environment__name", "live_digest"]
    list_select_related = ["environment__project"]
    # No date hierarchy (it reads every row's date) and no second count of the unfiltered table.
    show_full_result_count = False
    paginator = CappedCountPaginator


@admin.register(Status)
class StatusAdmin(ReadOnlyAdmin):
    fields = [
        "environment",
        "result",
        "reason",
        "message",
        "checked_at",
        "changed_at",
        "live_digest",
        "live_commit",
        "live_version",
        "expected_digest",
        "live_release",
        "ahead_by",
    ]
    list_display = ["environment", "result", "reason", "checked_at", "changed_at"]
    list_filter = ["result", "reason"]
    list_select_related = ["environment__project"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["channel", "subscriber", "observation", *Delivery.ATTEMPT_FIELDS]
    list_filter = ["state", "channel"]
    list_select_related = ["channel", "subscriber__project", "observation__environment__project"]
    actions = ["send_again"]

    @admin.action(description=_("Send the selected failed deliveries again"))
    def send_again(self, request, queryset):
        count = notifications.send_again(queryset)
        messages.info(
            request,
            ngettext(
                "%(count)d failed delivery will be sent again within a minute.",
                "%(count)d failed deliveries will be sent again within a minute.",
                count,
            )
            % {"count": count},
        )


class ConfirmedFilter(admin.SimpleListFilter):
    title = _("confirmed")
    parameter_name = "confirmed"

    def lookups(self, request, model_admin):
        return [("yes", _("confirmed")), ("no", _("awaiting confirmation"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(confirmed_at__isnull=self.value() == "no")
        return queryset


@admin.register(Subscriber)
class SubscriberAdmin(ReadOnlyAdmin):
    """How many subscribe, to what, and whether they confirmed. An address is never listed whole; it is
    found only by typing it whole, to delete it when its owner asks."""

    fields = ["masked_email", "project", "language", "created_at", "confirmed_at"]
    list_display = ["__str__", "masked_email", "project", "language", "confirmed", "created_at"]
    list_filter = [ConfirmedFilter, "project", "language"]
    list_select_related = ["project"]
    search_fields = ["email"]
    search_help_text = _("The whole address: nothing is found by a part of one.")

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm("monitoring.delete_subscriber")

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(email=search_term.strip().lower()), False

    @admin.display(description=_("address"))
    def masked_email(self, subscriber):
        local, _at, domain = subscriber.email.partition("@")
        return f"{local[:1]}…@{domain}"

    @admin.display(description=_("confirmed"), boolean=True, ordering="confirmed_at")
    def confirmed(self, subscriber):
        return subscriber.confirmed_at is not None
