"""Admin for monitoring: notification channels (editable), observations and deliveries (read-only)."""

from django.contrib import admin, messages

from . import notifications
from .models import Delivery, NotificationChannel, Observation, Status


class ReadOnlyAdmin(admin.ModelAdmin):
    """What the workers saw is a record, not something to edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
                f"Webhook key of '{obj.name}': {obj.webhook_key()} — copy it now into the receiver; it is "
                "shown only this once. Receivers check X-Vitrina-Signature: sha256=HMAC-SHA256(key, body).",
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
    date_hierarchy = "checked_at"
    list_select_related = ["environment__project"]


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
    list_display = ["channel", "observation", *Delivery.ATTEMPT_FIELDS]
    list_filter = ["state", "channel"]
    list_select_related = ["channel", "observation__environment__project"]
    actions = ["send_again"]

    @admin.action(description="Send the selected failed deliveries again")
    def send_again(self, request, queryset):
        count = notifications.send_again(queryset)
        messages.info(request, f"{count} failed deliveries will be sent again within a minute.")
