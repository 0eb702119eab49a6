"""Pagination of the public lists: ``?limit=&offset=``, with a ceiling so one request stays cheap."""

from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200
