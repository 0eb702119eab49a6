"""The admin login: repeated failures lock out the user and the address; two-factor login when required."""

import json
import logging
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tests.portal import factories

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long and correct passphrase"
ATTACKER = "203.0.113.7"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    # Up to 50 password checks per test: the default PBKDF2 cost would make this file slow, not safer.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.org", PASSWORD)


def log_in(username, password, address=ATTACKER, *, forwarded_for=None, language="en", **fields):
    """Posts the admin login form as a new browser would; ``fields`` adds form fields (the OTP token)."""
    client = Client()
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/", **fields},
        REMOTE_ADDR=address,
        HTTP_ACCEPT_LANGUAGE=language,
        **headers,
    )
    return client, response


def reaches_admin_index(client, address=ATTACKER):
    return client.get("/admin/", REMOTE_ADDR=address).status_code == 200


def test_fifty_wrong_passwords_then_the_right_one_is_locked_out(operator):
    for _ in range(50):
        log_in("operator", "wrong")
    client, response = log_in("operator", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert not reaches_admin_index(client)


def test_the_first_failures_are_ordinary_form_errors_and_the_right_password_still_works(operator):
    for _ in range(4):
        _, response = log_in("operator", "wrong")
        assert response.status_code == 200
    client, response = log_in("operator", PASSWORD)
    assert response.status_code == 302
    assert reaches_admin_index(client)


def test_an_address_guessing_many_usernames_is_locked_out_for_every_user(operator):
    for n in range(5):
        log_in(f"guess-{n}", "wrong")
    _, response = log_in("operator", PASSWORD)
    assert response.status_code == 429
    _, elsewhere = log_in("operator", PASSWORD, address="198.51.100.20")
    assert elsewhere.status_code == 302


def test_a_user_guessed_from_many_addresses_is_locked_out_from_every_address(operator, django_user_model):
    django_user_model.objects.create_superuser("other", "other@example.org", PASSWORD)
    for n in range(5):
        log_in("operator", "wrong", address=f"198.51.100.{n + 1}")
    _, response = log_in("operator", PASSWORD, address="192.0.2.50")
    assert response.status_code == 429
    _, other = log_in("other", PASSWORD, address="192.0.2.50")
    assert other.status_code == 302


def test_the_lockout_page_is_spanish_for_spanish_readers_and_has_no_inline_code(operator):
    for _ in range(5):
        log_in("operator", "wrong")
    _, response = log_in("operator", PASSWORD, language="es")
    page = response.content.decode()
    assert response.status_code == 429
    assert "Demasiados intentos fallidos" in page
    assert "15" in page
    assert "Content-Security-Policy" in response.headers
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert "<style" not in page and "style=" not in page


@pytest.mark.parametrize(
    ("command", "argument"), [("axes_reset_username", "operator"), ("axes_reset_ip", ATTACKER)]
)
def test_the_unlock_commands_lift_the_lockout(operator, command, argument):
    for _ in range(50):
        log_in("operator", "wrong")
    assert log_in("operator", PASSWORD)[1].status_code == 429
    call_command(command, argument, stdout=StringIO())
    client, response = log_in("operator", PASSWORD)
    assert response.status_code == 302
    assert reaches_admin_index(client)


def test_a_forged_forwarded_for_header_does_not_dodge_the_lockout_without_a_proxy(operator):
    for n in range(5):
        log_in("operator", "wrong", forwarded_for=f"10.0.0.{n}")
    client = Client()
    response = client.post(
        "/admin/login/",
        {"username": "nobody", "password": "x"},
        REMOTE_ADDR=ATTACKER,
        HTTP_X_FORWARDED_FOR="10.9.9.9",
    )
    assert response.status_code == 429


def test_behind_the_proxy_the_address_is_the_one_the_proxy_appended(operator, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    proxy = "10.0.0.1"
    for _ in range(5):
        # What the client sent comes first; the proxy appends the address it saw.
        log_in("guess", "wrong", address=proxy, forwarded_for=f"1.2.3.4, {ATTACKER}")
    _, locked = log_in("operator", PASSWORD, address=proxy, forwarded_for=ATTACKER)
    assert locked.status_code == 429
    _, other_client = log_in("operator", PASSWORD, address=proxy, forwarded_for="192.0.2.9")
    assert other_client.status_code == 302


def test_a_locked_out_address_can_still_use_the_api_with_its_token(operator):
    project = factories.make_project("city-portal")
    private_key, _ = factories.make_key(project)
    _, raw_token = factories.make_token(project)
    for _ in range(5):
        log_in("operator", "wrong")
    envelope = factories.make_envelope(private_key, repo_url=project.repo_url)
    response = Client().post(
        "/api/v1/releases/",
        data=json.dumps({"envelope": envelope, "version": "1.0.0"}),
        content_type="application/json",
        REMOTE_ADDR=ATTACKER,
        HTTP_AUTHORIZATION=f"Bearer {raw_token}",
    )
    assert response.status_code == 201, response.content


def test_failed_logins_log_the_user_and_address_but_never_the_password_or_token(operator, caplog):
    from axes.models import AccessAttempt

    caplog.set_level(logging.DEBUG)
    for _ in range(6):
        log_in("operator", "hunter2-secret-guess", otp_token="918273")
    assert "operator" in caplog.text and ATTACKER in caplog.text
    stored = "".join(AccessAttempt.objects.values_list("post_data", flat=True))
    for secret in ("hunter2-secret-guess", "918273"):
        assert secret not in caplog.text
        assert secret not in stored


# Two-factor authentication.


def current_token(device):
    from django_otp.oath import totp

    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):0{device.digits}d}"


@pytest.fixture
def require_2fa(settings):
    settings.VITRINA_ADMIN_REQUIRE_2FA = True


@pytest.fixture
def device(operator):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=operator, name="phone", confirmed=True)


def test_with_2fa_required_a_password_alone_does_not_reach_the_admin(require_2fa, device):
    client, response = log_in("operator", PASSWORD)
    assert response.status_code == 200
    assert not reaches_admin_index(client)


def test_with_2fa_required_a_signed_in_but_unverified_session_does_not_reach_the_admin(
    require_2fa, device, operator
):
    client = Client()
    client.force_login(operator)
    assert not reaches_admin_index(client)


def test_with_2fa_required_the_password_and_a_current_totp_token_reach_the_admin(require_2fa, device):
    client, response = log_in(
        "operator", PASSWORD, otp_device=device.persistent_id, otp_token=current_token(device)
    )
    assert response.status_code == 302
    assert reaches_admin_index(client)


def test_with_2fa_required_a_wrong_token_is_refused(require_2fa, device):
    wrong = f"{(int(current_token(device)) + 1) % 10**6:06d}"
    client, response = log_in("operator", PASSWORD, otp_device=device.persistent_id, otp_token=wrong)
    assert response.status_code == 200
    assert not reaches_admin_index(client)


def test_without_2fa_required_the_password_is_enough(operator, settings):
    settings.VITRINA_ADMIN_REQUIRE_2FA = False
    client, response = log_in("operator", PASSWORD)
    assert response.status_code == 302
    assert reaches_admin_index(client)


def test_addtotp_prints_a_uri_whose_secret_gives_tokens_that_log_in(require_2fa, operator, caplog):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    caplog.set_level(logging.DEBUG)
    out = StringIO()
    call_command("addtotp", "operator", stdout=out)
    uri = next(line for line in out.getvalue().split() if line.startswith("otpauth://totp/"))
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    device = TOTPDevice.objects.get(user=operator)
    assert device.confirmed
    assert secret not in caplog.text
    client, response = log_in("operator", PASSWORD, otp_token=current_token(device))
    assert response.status_code == 302
    assert reaches_admin_index(client)


def test_addtotp_for_an_unknown_user_is_a_one_line_error():
    with pytest.raises(CommandError, match="no user 'ghost'"):
        call_command("addtotp", "ghost", stdout=StringIO())


def test_addtotp_with_a_blank_name_is_a_one_line_error_and_adds_no_device(operator):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    with pytest.raises(CommandError, match=r"^--name must be 1 to \d+ characters\.$"):
        call_command("addtotp", "operator", "--name", " ", stdout=StringIO())
    assert not TOTPDevice.objects.exists()


def test_2fa_is_required_by_default_when_debug_is_off():
    def required(**env):
        code = "from django.conf import settings; print(settings.VITRINA_ADMIN_REQUIRE_2FA)"
        environment = {
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "SECRET_KEY": "x" * 50,
            "VITRINA_TESTING": "0",
            **env,
        }
        result = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.strip()

    assert required(DEBUG="0") == "True"
    assert required(DEBUG="1") == "False"
    assert required(DEBUG="0", VITRINA_ADMIN_REQUIRE_2FA="0") == "False"


def test_operators_manage_totp_devices_in_the_admin_without_seeing_a_secret_again(admin_client, operator):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=operator, name="phone", confirmed=True)
    assert admin_client.get("/admin/otp_totp/totpdevice/add/").status_code == 200
    listing = admin_client.get("/admin/otp_totp/totpdevice/").content.decode()
    change = admin_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content.decode()
    assert "phone" in listing
    assert device.key not in listing and device.key not in change
