"""The portal's own live endpoint and the public observations API."""

from urllib.parse import urlencode

from django.http import JsonResponse

from portal.http import error_response, public_read
from portal.registry.models import Environment

from .selfwatch import running_deployment

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@public_read
def deployment(request):
    """What this Vitrina runs, in the live endpoint format it asks of every watched service."""
    response = JsonResponse(running_deployment())
    response["Cache-Control"] = "no-store"
    return response


@public_read
def observations(request, slug, env):
    """The environment's check history, newest first, paged with limit/offset."""
    environment = Environment.objects.filter(project__slug=slug, name=env).first()
    if environment is None:
        return error_response(404, f"There is no environment '{env}' in project '{slug}'.", code="not_found")
    fields = {}
    limit = parse_count(request.GET.get("limit"), DEFAULT_LIMIT, 1, MAX_LIMIT, "limit", fields)
    offset = parse_count(request.GET.get("offset"), 0, 0, None, "offset", fields)
    if fields:
        return error_response(400, "The paging parameters are not valid.", fields=fields)
    history = environment.observations.order_by("-checked_at", "-id")
    count = history.count()
    base = request.build_absolute_uri(request.path)
    return JsonResponse(
        {
            "count": count,
            "next": f"{base}?{urlencode({'limit': limit, 'offset': offset + limit})}"
            if offset + limit < count
            else None,
            "previous": f"{base}?{urlencode({'limit': limit, 'offset': max(offset - limit, 0)})}"
            if offset > 0
            else None,
            "results": [observation.as_api() for observation in history[offset : offset + limit]],
        }
    )


def parse_count(text, default, minimum, maximum, name, errors):
    if text in (None, ""):
        return default
    try:
        value = int(text)
    except ValueError:
        errors[name] = [f"{name} must be a whole number."]
        return default
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        errors[name] = [f"{name} must be at least {minimum}{upper}."]
        return default
    return value
