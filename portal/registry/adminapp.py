"""``django.contrib.admin`` with Vitrina's site as ``admin.site``.

Apart from the site's module because app configs are imported before any model may be.
"""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "portal.registry.adminsite.VitrinaAdminSite"
