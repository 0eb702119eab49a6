"""Vitrina settings, read from environment variables only (and secrets from files).

Embedded defaults make ``make run`` work on a fresh machine: SQLite, Celery's filesystem broker and a
log signing key generated on first start. Production sets ``DATABASE_URL``, ``REDIS_URL``,
``SECRET_KEY`` and ``DEBUG=0``; with ``DEBUG`` off, the secure defaults below apply.
"""

import os
import zoneinfo
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from portal.monitoring.schedule import BEAT_SCHEDULE as MONITORING_BEAT_SCHEDULE
from portal.transparency.schedule import BEAT_SCHEDULE as TRANSPARENCY_BEAT_SCHEDULE

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VITRINA_VAR_DIR", BASE_DIR / "var"))
# The embedded defaults (SQLite, broker folders, keys) live here; a fresh clone has no such folder yet.
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default):
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# pytest (8.2+) announces itself in PYTEST_VERSION; tests get the embedded, permissive defaults.
TESTING = env_bool("VITRINA_TESTING", "PYTEST_VERSION" in os.environ)

# The secret key comes from SECRET_KEY or from a file (``make run`` generates var/secret.key once).
SECRET_KEY_FILE = Path(os.environ.get("SECRET_KEY_FILE", VAR_DIR / "secret.key"))
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY and SECRET_KEY_FILE.is_file():
    SECRET_KEY = SECRET_KEY_FILE.read_text().strip()
if not SECRET_KEY:
    if DEBUG or TESTING:
        SECRET_KEY = "insecure-development-key"  # noqa: S105 - only with DEBUG or under tests
    else:
        raise ImproperlyConfigured(
            "Set SECRET_KEY or SECRET_KEY_FILE (DEBUG is off); `make run` creates var/secret.key for you."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Where volunteers get Vitrina's own source (and so the verifier) without trusting this portal.
VITRINA_SOURCE_URL = os.environ.get("VITRINA_SOURCE_URL", "")

INSTALLED_APPS = [
    "portal.registry.adminapp.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "portal.registry",
    "portal.transparency",
    "portal.monitoring",
    "portal.api",
    "portal.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.web.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before the session and the locale: a kept public page is answered without either (web/page_cache.py).
    "portal.web.page_cache.SharedPageCache",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "portal.http.ApiSpeaksUtc",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.web.context_processors.site",
                "portal.transparency.context_processors.log_integrity",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'vitrina.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; the timeout rides out short write locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    # A file, not memory, so a real Celery worker in the end-to-end tests sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-vitrina-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: a locked-out user or address is refused before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LANGUAGES = [("es", _("Spanish")), ("en", _("English"))]
# The language of a visitor who asks for none (no cookie, no Accept-Language): Spanish unless told.
LANGUAGE_CODE = os.environ.get("VITRINA_LANGUAGE", "es").strip()
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(
        f"VITRINA_LANGUAGE is {LANGUAGE_CODE!r}; the site speaks 'es' (the default) or 'en'."
    )
LOCALE_PATHS = [BASE_DIR / "locale"]
# The public's time zone: pages show times on its clock (and read the "what was running at" form in it);
# times are stored and written for machines (API, feeds, log) in UTC whatever it is.
TIME_ZONE = os.environ.get("VITRINA_TIME_ZONE", "America/Montevideo").strip()
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"VITRINA_TIME_ZONE is {TIME_ZONE!r}, which is not a time zone this machine knows; give an IANA"
        " name such as 'America/Montevideo' or 'Europe/Madrid' (the tz database, package tzdata)."
    ) from None
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING

# Security: strict by default, relaxed only where DEBUG says so.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG and SITE_URL.startswith("https://"))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Admin login (docs/operators.md). After VITRINA_LOGIN_FAILURE_LIMIT failed logins for one username (from
# anywhere) or from one address (any usernames), logins are refused for VITRINA_LOGIN_COOLOFF_MINUTES;
# `manage.py axes_reset_username` / `axes_reset_ip` lift it sooner. The bearer-token API is not a login.
AXES_FAILURE_LIMIT = int(os.environ.get("VITRINA_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("VITRINA_LOGIN_COOLOFF_MINUTES", "15")))
# Locking a username out from anywhere stops guessing spread over many addresses, but lets anyone lock an
# operator out; VITRINA_LOGIN_LOCKOUT_BY=ip_address trades the first for the second.
AXES_LOCKOUT_PARAMETERS = env_list("VITRINA_LOGIN_LOCKOUT_BY", ["username", "ip_address"])
if not set(AXES_LOCKOUT_PARAMETERS) <= {"username", "ip_address"}:
    raise ImproperlyConfigured(
        "VITRINA_LOGIN_LOCKOUT_BY takes 'username', 'ip_address' or both, comma-separated."
    )
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "portal.registry.adminsite.client_address"
# Log who failed and from where (what an operator needs); never the password (axes masks it) or a token.
AXES_SENSITIVE_PARAMETERS = ["otp_token"]
# The admin asks for a TOTP token besides the password; on unless DEBUG (or under tests, which opt in).
VITRINA_ADMIN_REQUIRE_2FA = env_bool("VITRINA_ADMIN_REQUIRE_2FA", not (DEBUG or TESTING))
OTP_TOTP_ISSUER = "Vitrina"
# A device's secret is shown when it is added, never again (the admin would otherwise list it).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

# Request bodies from outside are capped: an envelope is small; anything bigger is refused with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("VITRINA_MAX_BODY_BYTES", str(256 * 1024)))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # The strict JSON reader every outside document goes through: duplicate keys, NaN and depth are 400s.
    "DEFAULT_PARSER_CLASSES": ["portal.api.parsers.StrictJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.http.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Vitrina API",
    "DESCRIPTION": "Register releases and deployments from CI; read what runs where, with proofs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The endpoints that are not DRF views (checkpoint, tiles, badges, feeds, live endpoint) are added here.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema.add_plain_endpoints",
    ],
}

# One cache shared by every process (badges, the home and project pages' status, commit lists): Redis
# when it is there, files under var/ otherwise. Tests use memory: cache keys repeat from run to run.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL and not TESTING:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("CACHE_URL", REDIS_URL),
            "KEY_PREFIX": "vitrina",
            "TIMEOUT": 300,
            # A cache call slower than this is worse than the query it saves: give up, and the pages
            # skip the cache for a while (portal.web.shared_cache). redis-py before 8 waits forever.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
elif not TESTING:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "TIMEOUT": 300,
        }
    }

# Celery: Redis when REDIS_URL is set, else the filesystem transport so a fresh machine needs nothing.
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300}
else:
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_URL = "filesystem://"
    # kombu's own filesystem transport half-reads messages under concurrent publishers (portal/broker.py).
    CELERY_BROKER_TRANSPORT = "portal.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {**MONITORING_BEAT_SCHEDULE, **TRANSPARENCY_BEAT_SCHEDULE}

# The transparency log. The signing key is a file, never a database row.
VITRINA_LOG_ORIGIN = os.environ.get("VITRINA_LOG_ORIGIN", "vitrina.example/log")
VITRINA_LOG_KEY_FILE = os.environ.get("VITRINA_LOG_KEY_FILE", str(VAR_DIR / "log-signing.key"))
# A process that committed log entries integrates them at once, at most once per this many seconds
# (transparency.services.integrate_soon); the Celery beat task integrates every second besides.
VITRINA_LOG_INTEGRATE_INTERVAL = float(os.environ.get("VITRINA_LOG_INTEGRATE_INTERVAL", "0.5"))
# Seconds a witness has to answer one request to cosign a checkpoint (docs/operators.md#witnesses).
VITRINA_WITNESS_TIMEOUT = float(os.environ.get("VITRINA_WITNESS_TIMEOUT", "10"))

# Keyless releases: the Sigstore trust root (a trusted_root.json, for a private Sigstore instance) that
# bundles are verified against offline. Empty: the public-good root the sigstore library embeds.
VITRINA_SIGSTORE_TRUST_ROOT = os.environ.get("VITRINA_SIGSTORE_TRUST_ROOT", "")

# Monitoring.
# Seconds a public page (the same for every anonymous reader of a language) is answered from memory.
# Off in tests, which change records between two reads of a page.
VITRINA_PAGE_CACHE_SECONDS = int(os.environ.get("VITRINA_PAGE_CACHE_SECONDS", "0" if TESTING else "5"))
VITRINA_ALLOW_PRIVATE_ADDRESSES = env_bool("VITRINA_ALLOW_PRIVATE_ADDRESSES", DEBUG or TESTING)
VITRINA_REPO_CACHE_DIR = os.environ.get("VITRINA_REPO_CACHE_DIR", str(VAR_DIR / "repos"))
VITRINA_LIVE_CONNECT_TIMEOUT = float(os.environ.get("VITRINA_LIVE_CONNECT_TIMEOUT", "3"))
VITRINA_LIVE_TOTAL_TIMEOUT = float(os.environ.get("VITRINA_LIVE_TOTAL_TIMEOUT", "10"))
# One deadline for reading a site's entry pages and every script and style sheet they load.
VITRINA_SERVED_TOTAL_TIMEOUT = float(os.environ.get("VITRINA_SERVED_TOTAL_TIMEOUT", "30"))
VITRINA_REPO_TIMEOUT = float(os.environ.get("VITRINA_REPO_TIMEOUT", "60"))
VITRINA_REPO_MIN_FETCH_INTERVAL = float(os.environ.get("VITRINA_REPO_MIN_FETCH_INTERVAL", "30"))
# The portal watches itself: what it runs comes from a build manifest when there is one.
VITRINA_BUILD_MANIFEST = os.environ.get("VITRINA_BUILD_MANIFEST", "")
VITRINA_SELF_REPO_URL = os.environ.get("VITRINA_SELF_REPO_URL", "")
VITRINA_SELF_BRANCH = os.environ.get("VITRINA_SELF_BRANCH", "")
VITRINA_SELF_KEY_FILE = os.environ.get("VITRINA_SELF_KEY_FILE", "")

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "vitrina@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
