"""One settings module for every environment, driven by environment variables.

The defaults are the embedded ones `make run` needs on a machine with Python alone:
SQLite for data and Kombu's filesystem transport as the Celery broker. Production and
`make test` set DATABASE_URL and CELERY_BROKER_URL to PostgreSQL and Redis.
docs/configuration.md lists every variable.
"""

import ipaddress
import os
import re
import zoneinfo
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in env_str(name, default).split(",") if part.strip()]


def _networks(name: str, default: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(part) for part in env_list(name, default)]
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} must be a list of networks (CIDR): {error}") from None


# --- Core -------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)

# Management commands that only read the code and sign nothing may run without a key
# (a developer's or CI's `makemigrations --check`); anything that serves or works (web,
# workers, beat, runserver, migrate, the demo data) refuses to start without one.
_COMMANDS_WITHOUT_SECRETS = {
    "check",
    "compile_translations",
    "makemessages",
    "makemigrations",
    "showmigrations",
    "spectacular",
    "sqlmigrate",
}


def _runs_a_command_without_secrets() -> bool:
    import sys

    return (
        len(sys.argv) > 1
        and os.path.basename(sys.argv[0]) == "manage.py"
        and sys.argv[1] in _COMMANDS_WITHOUT_SECRETS
    )


SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and not _runs_a_command_without_secrets():
        # A silent default here would sign sessions with a key anyone can read on GitHub.
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-used-only-with-debug-on"
elif not DEBUG and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5):
    # Django's own deploy check (security.W009) asks the same: a short or repetitive key
    # can be guessed, and with it every session and password-reset link forged.
    raise ImproperlyConfigured(
        "SECRET_KEY must be at least 50 characters long with at least 5 different "
        "characters when DEBUG is off (e.g. python -c 'import secrets; "
        "print(secrets.token_urlsafe(50))')."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_celery_beat",
    "axes",
    "django_prometheus",
    "health_check",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "customers",
    "continuity",
    "orders",
    "payments",
    "payments.gateways.simulator",
    "batch",
]
# The demo data and the load generators (their management commands) are for development,
# tests and benchmarks: a production deployment does not install them unless asked to.
DEVDATA_ENABLED = env_bool("DEVDATA_ENABLED", DEBUG)
if DEVDATA_ENABLED:
    INSTALLED_APPS.append("devdata")

MIDDLEWARE = [
    # First: its request id and access line cover every request, redirects included.
    "core.access_log.RequestLogMiddleware",
    # First and last: django-prometheus times every request and counts its answer.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Before anything reads them: X-Forwarded-* only from TRUSTED_PROXY_NETWORKS.
    "core.addresses.ProxyHeadersFromTrustedProxiesOnly",
    # Before anything reads the host: /health/live/ answers a probe naming any host.
    "config.health.LiveHealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Renews a signed-in session's idle timeout at most once a minute (core.sessions).
    "core.sessions.SessionRenewedEveryMinuteMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a signed-in user unless its view says otherwise (login, set language).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After the authentication middleware: it turns a locked-out sign-in into the 429 page.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "core.context_processors.roles",
            ],
        },
    },
]

# --- Databases --------------------------------------------------------------------------


def _database(url: str) -> dict:
    # A kept connection (DB_CONN_MAX_AGE) is asked `SELECT 1` before its first statement
    # of each request or task (Django's CONN_HEALTH_CHECKS): a server restarted since
    # costs a new connection, not a failed request or task.
    config = dj_database_url.parse(
        url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        # IMMEDIATE takes the write lock at BEGIN, so concurrent web, worker and beat
        # processes wait for each other instead of failing with "database is locked".
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        config["CONN_MAX_AGE"] = 0
    elif env_bool("DB_DISABLE_SERVER_SIDE_CURSORS", False):
        # Behind a pooler in transaction mode (PgBouncer, docs/operations.md): a cursor
        # that outlives its transaction could be fetched from on another server session.
        config["DISABLE_SERVER_SIDE_CURSORS"] = True
    # The same backends, counting queries, their time and errors for /metrics.
    config["ENGINE"] = config["ENGINE"].replace(
        "django.db.backends.", "django_prometheus.db.backends."
    )
    return config


DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'continuity.sqlite3'}")
DATABASES = {
    "default": _database(DATABASE_URL),
    # The payment gateway simulator keeps its own ledger through its own connection, so
    # that what it records survives a rollback of ours, as a real gateway's would.
    "gateway": _database(env_str("GATEWAY_DATABASE_URL", DATABASE_URL)),
}
DATABASE_ROUTERS = ["payments.gateways.simulator.routers.SimulatorLedgerRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- HTTPS, cookies, sessions, Content-Security-Policy --------------------------------
# Production defaults (DEBUG off): HTTPS only, cookies only over HTTPS and out of reach of
# scripts, no inline script or style on any page. `make run` (DEBUG on) serves plain HTTP;
# `make test` turns SECURE_SSL_REDIRECT off because the test server speaks HTTP.

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# HSTS: browsers keep to HTTPS for this long after one visit (a year by default; 0 turns
# it off). Subdomains are included by default. Preload (a browser-shipped list, slow and
# hard to leave) is off by default: turn it on only once every subdomain serves HTTPS
# for good, then submit the domain to hstspreload.org.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
# The pages send the CSRF token from the form field, never from the cookie: scripts have
# no reason to read it.
CSRF_COOKIE_HTTPONLY = True
# Behind PROXY_COUNT trusted proxies (see below), the request's scheme is the one the
# first proxy saw, in X-Forwarded-Proto; without a proxy the header is not trusted (a
# client could claim HTTPS).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_int("PROXY_COUNT", 0) else None
# An agent's session ends after this many minutes without a request (a request renews
# it, at most once a minute: core.sessions): a desk left signed in does not stay open all
# night.
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 60, minimum=1)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = False
# W021 asks for HSTS preload; preload is a deliberate, documented choice (above).
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Only our own scripts, styles, images and forms; no inline script or style, no frames.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

# --- Cache ------------------------------------------------------------------------------
# The token endpoint's throttle counts in the cache, so in production it must be one that
# every web process shares: Redis. The default, a per-process memory cache, is enough for
# `make run` and the tests. Redis is Django's own backend (django-prometheus' Redis
# subclasses are built on the django-redis package, which this project does not use); the
# memory cache is django-prometheus' subclass, which counts hits and misses for /metrics.


def _cache(url: str) -> dict:
    if url.startswith(("redis://", "rediss://", "unix://")):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    if url.startswith("locmem://"):
        return {"BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache"}
    raise ImproperlyConfigured(f"CACHE_URL must be locmem:// or redis://..., not {url!r}.")


CACHES = {"default": _cache(env_str("CACHE_URL", "locmem://"))}

# Reverse proxies in front of the web process: the client address (the sign-in lock, the
# token throttle, /metrics' networks; core.addresses) is the one the last of them wrote in
# X-Forwarded-For. 0: the peer address itself, so that a client cannot choose it.
PROXY_COUNT = env_int("PROXY_COUNT", 0)
# The proxies' own networks: X-Forwarded-For is read only from a peer in one of them, so a
# client that reaches gunicorn directly cannot claim another address. With PROXY_COUNT set
# and no network listed, start-up stops: guessing (every private network, say) would trust
# whatever else shares them.
TRUSTED_PROXY_NETWORKS = _networks("TRUSTED_PROXY_NETWORKS", "")
if PROXY_COUNT and not TRUSTED_PROXY_NETWORKS:
    raise ImproperlyConfigured(
        "PROXY_COUNT is set: list the proxies' networks (CIDR) in TRUSTED_PROXY_NETWORKS, "
        "e.g. 127.0.0.1/32 for a proxy on the same host."
    )

# Failed sign-ins, counted by django-axes in its tables (AccessAttempt, shown in the
# admin; `manage.py axes_reset` clears them): after LOGIN_FAILURE_LIMIT failures of one
# user name from one address, that pair is refused (429, even with the right password)
# until LOGIN_FAILURE_WINDOW_MINUTES have passed since its last counted failure. The same
# lock covers every door that checks a password: the sign-in page (the admin's too) and
# the API's token endpoint.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_FAILURE_WINDOW_MINUTES = env_int("LOGIN_FAILURE_WINDOW_MINUTES", 15, minimum=1)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_FAILURE_WINDOW_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A refused attempt does not lengthen the lock: the wait shown is the wait there is.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The client address the token throttle counts too (core.addresses): django-ipware would
# read X-Forwarded-For by its own rule, from any peer.
AXES_CLIENT_IP_CALLABLE = "core.addresses.client_address"
AXES_LOCKOUT_CALLABLE = "core.views.sign_in_locked_out"
# Successful sign-ins are in the sessions already; axes keeps the failures only.
AXES_DISABLE_ACCESS_LOG = True
# No start-up banner: a management command's stderr stays its own one-line errors.
AXES_VERBOSE = False
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out pair before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, reading the user's roles with the user (core.auth).
    "core.auth.ModelBackendWithRoles",
]

# --- REST API ---------------------------------------------------------------------------

REST_FRAMEWORK = {
    # Token first: an anonymous API call is answered 401 with "WWW-Authenticate: Token"
    # (DRF takes the header from the first class). Sessions serve the browser (the docs).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only, both ways: every answer, errors included, is JSON (the browser gets the
    # docs at /api/docs/ instead of DRF's browsable pages).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "core.rest.AutoSchema",
    "EXCEPTION_HANDLER": "core.rest.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "auth_token": env_str("API_TOKEN_THROTTLE_RATE", "10/min"),
    },
    # Throttles count by core.addresses.ClientAddressScopedRateThrottle. Should a plain DRF
    # throttle appear, 0 makes it count the peer: DRF's default (None) believes any
    # peer's X-Forwarded-For.
    "NUM_PROXIES": 0,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Continuity API",
    "DESCRIPTION": (
        "Everything a call-center agent does (customers, cards, sales orders, continuity "
        "items, subscriptions) and what a supervisor does (batch runs). Authenticate with "
        "`Authorization: Token <key>`. Every error has the same shape: `Error`."
    ),
    "VERSION": "1.0.0",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # The default hook (named enums), then the OpenAPI links between operations.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api_schema.add_links",
    ],
    # Swagger UI comes from drf-spectacular-sidecar's static files: no CDN. (ReDoc is not
    # served: its page loads its fonts from Google.)
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `status` or `kind`: one named enum each.
    "ENUM_NAME_OVERRIDES": {
        "SalesOrderStatusEnum": "orders.models.SalesOrderStatus",
        "SalesOrderKindEnum": "orders.models.SalesOrderKind",
        "SubscriptionStatusEnum": "continuity.models.SubscriptionStatus",
        "HoldReasonEnum": "continuity.models.HoldReason",
        "OccurrenceStatusEnum": "continuity.models.OccurrenceStatus",
        "PaymentStatusEnum": "payments.models.PaymentStatus",
        "PaymentOperationEnum": "payments.models.PaymentOperation",
        "PaymentMethodKindEnum": "payments.models.PaymentMethodKind",
        "CardBrandEnum": "payments.models.CardBrand",
        "DeclineClassEnum": "payments.models.DeclineClass",
        "AddressKindEnum": "customers.models.AddressKind",
        "BatchJobEnum": "batch.models.BatchJob",
        "BatchRunStatusEnum": "batch.models.BatchRunStatus",
        "ShipmentProblemEnum": "continuity.models.ShipmentProblem",
    },
}

# --- Internationalisation ---------------------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The call centre's IANA time zone (America/New_York, Europe/Paris): its "today" is the
# order date, a batch run's default date and every date check (core.dates.business_date);
# beat's daily schedules run at their hour in it and pages show times in it. Django's
# TIME_ZONE is this one zone, so that timezone.localdate(), the ORM's __date lookups,
# templates and Celery never disagree with the business day. TIME_ZONE, its older name,
# is still read when BUSINESS_TIME_ZONE is unset. The default, UTC, suits only a call
# centre on UTC: `check --deploy` warns while it is left unset (core.checks).
_business_zone_env = {
    name: os.environ[name].strip()
    for name in ("BUSINESS_TIME_ZONE", "TIME_ZONE")
    if os.environ.get(name, "").strip()
}
if len(set(_business_zone_env.values())) > 1:
    raise ImproperlyConfigured(
        f"BUSINESS_TIME_ZONE ({_business_zone_env['BUSINESS_TIME_ZONE']!r}) and TIME_ZONE "
        f"({_business_zone_env['TIME_ZONE']!r}) disagree: set BUSINESS_TIME_ZONE only."
    )
BUSINESS_TIME_ZONE = next(iter(_business_zone_env.values()), "UTC")
# A name the installed tz database knows. ZoneInfo() refuses a folder ("America":
# IsADirectoryError) or a path ("Europe/": ValueError) with errors of its own, caught
# here; listing every zone instead would cost each process ~25 ms at start.
try:
    zoneinfo.ZoneInfo(BUSINESS_TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
    raise ImproperlyConfigured(
        f"BUSINESS_TIME_ZONE must be an IANA time zone name such as America/New_York or "
        f"Europe/Paris, not {BUSINESS_TIME_ZONE!r}."
    ) from None
TIME_ZONE = BUSINESS_TIME_ZONE
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Celery -----------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Kombu's filesystem transport: a folder is the queue, so no broker server is needed.
    _broker_folder = VAR_DIR / "broker"
    (_broker_folder / "queue").mkdir(parents=True, exist_ok=True)
    (_broker_folder / "processed").mkdir(parents=True, exist_ok=True)
    (_broker_folder / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "control_folder": str(_broker_folder / "control"),
        "data_folder_in": str(_broker_folder / "queue"),
        "data_folder_out": str(_broker_folder / "queue"),
        "processed_folder": str(_broker_folder / "processed"),
        "store_processed": False,
    }
else:
    # With acks_late a message unacknowledged for this long is delivered again, so it
    # must be longer than the slowest task (seconds).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)
    }
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# Celery's Django support closes every database connection before and after each task,
# unless told to reuse them for this many tasks: then a batch chunk paid for a new
# PostgreSQL session each time (its start, and the server's caches of the tables and of
# the foreign keys' checks filled again). config.celery closes them as Django does
# around a request instead (older than DB_CONN_MAX_AGE, or broken; checked before reuse
# as above), and this count is only a backstop.
CELERY_DB_REUSE_MAX = 10_000
# Batch work and customer emails have queues of their own, so that neither waits behind
# the other (and a worker can be given to one of them only).
CELERY_TASK_ROUTES = {
    "batch.*": {"queue": "batch"},
    "core.send_notifications": {"queue": "notifications"},
}
# django-celery-beat's database scheduler, whose crontabs follow BUSINESS_TIME_ZONE.
CELERY_BEAT_SCHEDULER = "core.beat:BusinessZoneScheduler"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# --- Monitoring: /health/ and /metrics ------------------------------------------------

# Load balancers and Prometheus call these over the internal network in plain HTTP: they
# get an answer, not a redirect to HTTPS (neither carries cookies nor takes input).
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics$"]

# /health/ fails when beat has not sent the every-minute watchdog for this long. Beat
# records its sends every 3 minutes, so less than 5 would fail a healthy beat.
HEALTH_BEAT_MAX_MINUTES = env_int("HEALTH_BEAT_MAX_MINUTES", 5, minimum=5)
# /health/ keeps its answer this long (seconds, per web process): however often it is
# called, the workers get one broadcast and the gateway one ping per this time. 0 runs
# the checks on every call.
HEALTH_CACHE_SECONDS = env_int("HEALTH_CACHE_SECONDS", 10, minimum=0)


# /metrics and the full /health/ answer callers from these networks (a Prometheus server,
# a monitor; the client address of core.addresses) and signed-in staff; anyone else gets
# 404. Behind a proxy on this host with PROXY_COUNT 0, every caller is 127.0.0.1: set
# PROXY_COUNT or narrow this.
METRICS_ALLOWED_NETWORKS = _networks("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128")
# In the web container gunicorn's workers share their request metrics through this folder
# (prometheus_client's multiprocess mode, config/gunicorn.py); unset, each process
# reports its own.
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR")

# --- Email ------------------------------------------------------------------------------

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
# An SMTP server that wants a sign-in and an encrypted connection (most relays do).
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL: set one of them, not both.")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Continuity <no-reply@continuity.example>")

# --- Business settings ------------------------------------------------------------------

CURRENCY = env_str("CURRENCY", "USD").upper()
if not re.fullmatch(r"[A-Z]{3}", CURRENCY):
    raise ImproperlyConfigured(f"CURRENCY must be a three-letter ISO 4217 code, not {CURRENCY!r}.")

# Dotted path of a payments.gateways.base.PaymentGateway, or "simulator".
PAYMENT_GATEWAY = env_str("PAYMENT_GATEWAY", "simulator")
# Dotted path of an orders.tax.provider.TaxProvider, or "table" (the tax tables of the
# admin; docs/tax.md).
TAX_PROVIDER = env_str("TAX_PROVIDER", "table")
# Simulated network latency of every gateway call, in milliseconds.
PAYMENT_GATEWAY_LATENCY_MS = env_int("PAYMENT_GATEWAY_LATENCY_MS", 0)
# Threads of a process in which the simulator writes its ledger after a call's latency,
# each with its own database connection (0: in the calling thread).
PAYMENT_SIMULATOR_LEDGER_THREADS = env_int("PAYMENT_SIMULATOR_LEDGER_THREADS", 8)

CUSTOMER_SEARCH_LIMIT = env_int("CUSTOMER_SEARCH_LIMIT", 25, minimum=1)

# Shipments per batch chunk task: large enough to write in bulk, small enough that a
# retried chunk redoes little and a worker's memory stays flat.
BATCH_CHUNK_SIZE = env_int("BATCH_CHUNK_SIZE", 500, minimum=1)
# Gateway calls a worker process makes at once while charging shipments.
PAYMENT_GATEWAY_CONCURRENCY = env_int("PAYMENT_GATEWAY_CONCURRENCY", 32, minimum=1)
# How long a process may hold a payment it is sending to (or settling with) the gateway
# before another process may take it over: longer than the slowest gateway answer.
PAYMENT_GATEWAY_CLAIM_SECONDS = env_int("PAYMENT_GATEWAY_CLAIM_SECONDS", 120, minimum=1)
# Latest run date a batch run may be asked for, in days after today. Run dates in the
# past are allowed (catch-up); far-future ones would charge early.
BATCH_MAX_DAYS_AHEAD = env_int("BATCH_MAX_DAYS_AHEAD", 7, minimum=0)
# A run with no progress for this long is found by the watchdog (beat) and its
# unfinished chunks are dispatched again.
BATCH_STALL_SECONDS = env_int("BATCH_STALL_SECONDS", 300, minimum=10)

# --- Webhooks ---------------------------------------------------------------------------
# Seconds a webhook endpoint has to answer a delivery (connecting, then each read) before
# the attempt counts as failed ("timeout") and is tried again later (docs/webhooks.md). A
# sender holds a delivery for twice this long plus a minute before another may take it.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)

# --- Logging ----------------------------------------------------------------------------
# One JSON object a line (LOG_FORMAT=json, the default with DEBUG off) for a log
# collector, or readable lines (console, the default with DEBUG on). Django's, Celery's and
# our own records all go through core.logs: request id, user, batch run and chunk, Celery
# task on every line, and no card number (docs/operations.md lists the fields).

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_LEVEL = env_str("LOG_LEVEL").strip().upper() or "INFO"
if LOG_LEVEL not in _LOG_LEVELS:
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, not {env_str('LOG_LEVEL')!r}."
    )
LOG_FORMAT = env_str("LOG_FORMAT").strip().lower() or ("console" if DEBUG else "json")
if LOG_FORMAT not in ("json", "console"):
    raise ImproperlyConfigured(
        f"LOG_FORMAT must be json or console, not {env_str('LOG_FORMAT')!r}."
    )
# Applies LOGGING after making structlog's own loggers write through it (Celery's worker
# and beat call it too, from config/celery.py).
LOGGING_CONFIG = "core.logs.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "core.logs.json_formatter"},
        "console": {"()": "core.logs.console_formatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": LOG_FORMAT,
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's defaults give these handlers of their own (DEBUG-only console, mail to
        # ADMINS, runserver's access lines); here they write through the root handler only.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        # RequestLogMiddleware writes one line per request, its status included: runserver's
        # access lines and Django's "Not Found: /path" warnings (written after the request
        # id is gone) would repeat it. Errors still show, a view's traceback with its id.
        "django.server": {"handlers": [], "level": "ERROR", "propagate": True},
        "django.request": {"handlers": [], "level": "ERROR", "propagate": True},
        # Every SQL statement is a DEBUG line: too many, even with LOG_LEVEL=DEBUG.
        "django.db.backends": {"level": "INFO"},
        # django-health-check logs a traceback per failing check; config.health writes
        # one WARNING line per failing check instead. Unexpected errors still show.
        "health_check": {"level": "ERROR"},
    },
}
