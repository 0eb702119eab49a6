"""Pagination of the public lists: ``?limit=&offset=``, with a ceiling so one request stays cheap.

A limit or offset that is not a whole number in range is the client's mistake and answered with 400
(as the observations list does), never silently replaced by the default.
"""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200
    # Past any list's end, and within every database's integer range.
    max_offset = 10**18 - 1

    def get_schema_operation_parameters(self, view):
        limit, offset = super().get_schema_operation_parameters(view)
        limit["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_limit}
        offset["schema"] = {"type": "integer", "minimum": 0, "maximum": self.max_offset}
        return [limit, offset]

    def get_limit(self, request):
        return self._count(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request):
        return self._count(request, self.offset_query_param, 0, 0, self.max_offset)

    @staticmethod
    def _count(request, name, default, minimum, maximum):
        values = request.query_params.getlist(name)
        if not values:
            return default
        if len(values) > 1:
            raise ValidationError({name: [f"{name} must be given once."]})
        text = values[0]
        if not text.isascii() or not text.isdigit() or len(text) > 18:
            raise ValidationError({name: [f"{name} must be a whole number."]})
        value = int(text)
        if not minimum <= value <= maximum:
            raise ValidationError({name: [f"{name} must be at least {minimum} and at most {maximum}."]})
        return value
