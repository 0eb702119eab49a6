"""The portal's own live endpoint and the public observations API."""

from django.http import JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound

from portal.http import ErrorSerializer, Pagination, PublicReadView, public_read
from portal.registry.models import Environment

from .models import Light, ResultChoices
from .selfwatch import running_deployment


@public_read
def deployment(request):
    """What this Vitrina runs, in the live endpoint format it asks of every watched service."""
    response = JsonResponse(running_deployment())
    response["Cache-Control"] = "no-store"
    return response


class ObservationSerializer(serializers.Serializer):
    """One check, as ``Observation.as_api`` writes it (a stable contract, see docs/monitoring.md); the
    fields are declared for the schema."""

    checked_at = serializers.DateTimeField()
    light = serializers.ChoiceField(choices=Light.CHOICES)
    result = serializers.ChoiceField(choices=ResultChoices.values)
    reason = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    live_digest = serializers.CharField(allow_null=True)
    expected_digest = serializers.CharField(allow_null=True)
    ahead_by = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField()
    layers = serializers.DictField(
        help_text="The layers of evidence above the server's own report, by name (served_files, observers): "
        "each {result, reason, message, ...}; a layer not checked is absent."
    )

    def to_representation(self, instance):
        return instance.as_api()


class ObservationPagination(Pagination):
    max_limit = 500


@extend_schema(
    summary="Observations",
    tags=["status"],
    responses={
        200: ObservationSerializer(many=True),
        400: OpenApiResponse(ErrorSerializer, description="limit or offset is not a whole number in range."),
        404: OpenApiResponse(ErrorSerializer, description="No such environment."),
    },
)
class ObservationList(PublicReadView, generics.ListAPIView):
    """The environment's checks, newest first, paged with limit/offset."""

    serializer_class = ObservationSerializer
    pagination_class = ObservationPagination

    def get_queryset(self):
        slug, env = self.kwargs["slug"], self.kwargs["env"]
        environment = Environment.objects.filter(project__slug=slug, name=env).first()
        if environment is None:
            raise NotFound(f"There is no environment '{env}' in project '{slug}'.")
        return environment.observations.order_by("-checked_at", "-id")
