"""The operators' admin site and the address a login attempt comes from.

With ``VITRINA_ADMIN_REQUIRE_2FA`` the admin lets in only a session verified by a second factor (a TOTP
device, from ``manage.py addtotp`` or the admin): the login form then asks for a token, and a session
signed in with a password alone is treated as not staff. The setting is read on every request, so the
site is one object whatever it says. Failed logins are counted and locked out by django-axes, whose
backend and middleware sit in front of this site (``AXES_*`` in the settings).
"""

from django.conf import settings
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class LoginForm(OTPAdminAuthenticationForm):
    """django-otp's admin login, where an operator with one device need not pick it from a list first."""

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is None and not self.cleaned_data.get("otp_device"):
            # django-otp refuses to try every device in turn (failures would throttle the unused ones);
            # with exactly one there is nothing to try in turn.
            devices = list(devices_for_user(user, confirmed=True, for_verify=True))
            if len(devices) == 1:
                return devices[0]
        return device


class VitrinaAdminSite(OTPAdminSite):
    site_title = _("Vitrina administration")
    site_header = _("Vitrina administration")
    index_title = _("Projects, releases and checks")

    def __init__(self, name="admin"):
        # django-otp names its site "otpadmin"; ours keeps the admin's URL names ("admin:index").
        super().__init__(name)

    @property
    def login_form(self):
        return LoginForm if settings.VITRINA_ADMIN_REQUIRE_2FA else None

    @property
    def login_template(self):
        return OTPAdminSite.login_template if settings.VITRINA_ADMIN_REQUIRE_2FA else None

    def has_permission(self, request):
        if settings.VITRINA_ADMIN_REQUIRE_2FA:
            return super().has_permission(request)
        return admin.AdminSite.has_permission(self, request)


def client_address(request):
    """The address a request comes from, as the lockout counts it.

    Behind the HTTPS reverse proxy (``SECURE_PROXY_SSL_HEADER`` set, the same switch that makes the
    portal trust the proxy's ``X-Forwarded-Proto``) it is the last ``X-Forwarded-For`` entry: the one
    the proxy appended, which a client cannot forge. Without a proxy the header is the client's own
    words and is ignored: the socket's address counts.
    """
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and forwarded.strip():
        return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR")
