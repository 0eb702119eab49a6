"""The Vitrina portal: the Django project operators feed and the public reads."""

from .celery import app as celery_app

__all__ = ("celery_app",)
