"""``manage.py addtotp USER``: give an operator a TOTP device and print its otpauth URI, once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from ._common import name_or_error, print_once


class Command(BaseCommand):
    help = (
        "Add a TOTP device (an authenticator app) for an admin user and print its otpauth:// URI, "
        "alone on stdout, for the app to import (or type the secret= part by hand). The URI holds the "
        "device's secret: it is printed once and never logged. Each run adds another device; delete "
        "lost ones in the admin (OTP_TOTP → TOTP devices)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="the admin user's username")
        parser.add_argument("--name", default="authenticator", help="what holds the device, e.g. 'phone'")

    def handle(self, *args, username, name, **options):
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: username})
        except user_model.DoesNotExist:
            raise CommandError(f"There is no user '{username}'; create one with createsuperuser.") from None
        device = TOTPDevice.objects.create(user=user, name=name_or_error(TOTPDevice, name), confirmed=True)
        print_once(
            self,
            device.config_url,
            f"TOTP device '{device.name}' added for '{username}': import this URI in an authenticator app "
            "now, it is not shown again.",
        )
