"""The one settings module, driven by `EGIDE_*` environment variables (table in README.md).

Embedded default: SQLite and task queue in a local data directory. Operator: PostgreSQL through
`EGIDE_DATABASE_URL`, Redis through `EGIDE_REDIS_URL`. Bad values stop the process with a message
naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from egide.console import config

django_stubs_ext.monkeypatch()  # lets annotations such as ModelAdmin[Practice] run
_env = os.environ
PACKAGE_DIR = Path(__file__).resolve().parent

DATA_DIR = config.read_directory(_env, "EGIDE_DATA_DIR", Path.home() / ".local/share/egide")
DEBUG = config.read_bool(_env, "EGIDE_DEBUG", False)
HTTPS = config.read_bool(_env, "EGIDE_HTTPS", True)
ALLOWED_HOSTS = config.read_list(_env, "EGIDE_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


if not HTTPS and not all(_is_loopback(host) for host in ALLOWED_HOSTS):
    raise ImproperlyConfigured(
        "EGIDE_HTTPS=0 is only allowed when EGIDE_ALLOWED_HOSTS lists loopback addresses: "
        "serve the console over HTTPS (behind a TLS proxy) before opening it to the network."
    )

SECRET_KEY = config.read_secret_file(_env, "EGIDE_SECRET_KEY_FILE") or config.ensure_secret_file(
    DATA_DIR / "secret_key"
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "huey.contrib.djhuey",
    "egide.console.audit",
    "egide.console.accounts",
    "egide.console.backups",
    "egide.console.inbox",
    "egide.console.compliance",
    "egide.console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "egide.console.accounts.middleware.RequireSecondFactorMiddleware",
]

ROOT_URLCONF = "egide.console.urls"
WSGI_APPLICATION = "egide.console.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = config.read_database_url(
    _env, "EGIDE_DATABASE_URL", f"sqlite:///{DATA_DIR / 'egide.sqlite3'}"
)
_database: dict[str, Any] = dict(dj_database_url.parse(DATABASE_URL))
if _database["ENGINE"] == "django.db.backends.sqlite3":
    _database["OPTIONS"] = {
        # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of
        # failing mid-transaction; WAL lets readers go on while one thread writes.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
    }
    # Tests get a database file, as production has, not Django's shared-cache in-memory one:
    # there a concurrent writer fails at once («table is locked») instead of waiting its turn.
    _database["TEST"] = {"NAME": str(DATA_DIR / "egide-test.sqlite3")}
else:
    _database["CONN_MAX_AGE"] = 60
    _database["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (login throttling counters live here) and background tasks -----------------------
REDIS_URL = config.read_str(_env, "EGIDE_REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

TASKS_IMMEDIATE = config.read_bool(_env, "EGIDE_TASKS_IMMEDIATE", False)
if REDIS_URL:
    HUEY: dict[str, Any] = {
        "huey_class": "huey.RedisHuey",
        "name": "egide",
        "url": REDIS_URL,
        "immediate": TASKS_IMMEDIATE,
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "egide",
        "filename": str(DATA_DIR / "tasks.sqlite3"),
        "immediate": TASKS_IMMEDIATE,
    }
HUEY["consumer"] = {"workers": 2, "worker_type": "thread"}

# --- Authentication --------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_ADAPTER = "egide.console.accounts.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_RATE_LIMITS = {
    # Per account: 5 failures in 15 minutes lock the account until the window passes.
    "login_failed": "20/m/ip,5/15m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = "Égide"
# One 30-second step of clock drift either way, as RFC 6238 §5.2 recommends.
MFA_TOTP_TOLERANCE = 1
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = not HTTPS

# Sessions end after 2 hours without activity (every request renews the window).
SESSION_COOKIE_AGE = 2 * 60 * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# --- Messaging storage ----------------------------------------------------------------------
# The master key that wraps every mailbox key lives outside the data directory, so that a copy of
# the database and the mail store alone reveals nothing.
KEY_DIR = config.read_directory(_env, "EGIDE_KEY_DIR", Path.home() / ".config/egide")
EGIDE_MASTER_KEY_FILE = config.read_str(_env, "EGIDE_MASTER_KEY_FILE", str(KEY_DIR / "master.key"))
EGIDE_MAIL_DIR = str(config.read_directory(_env, "EGIDE_MAIL_DIR", DATA_DIR / "mail"))
EGIDE_MAX_MESSAGE_BYTES = (
    config.read_int(_env, "EGIDE_MAX_MESSAGE_MB", 25, low=1, high=150) * 1024 * 1024
)
DATA_UPLOAD_MAX_MEMORY_SIZE = EGIDE_MAX_MESSAGE_BYTES
# Crash tests only: SIGKILL the SMTP listener after its N-th synced batch, before the commit.
EGIDE_TEST_KILL_AFTER_SEGMENT_SYNC = config.read_int(
    _env, "EGIDE_TEST_KILL_AFTER_SEGMENT_SYNC", 0, low=0, high=1_000_000
)
# X-MSS-NIL (the sending software's reference) and the SubmissionSet.sourceId OID of XDM packages.
EGIDE_MSS_NIL = config.read_str(_env, "EGIDE_MSS_NIL", "EGIDE")
EGIDE_MSS_SOURCE_OID = config.read_str(_env, "EGIDE_MSS_SOURCE_OID", "1.2.250.1.999.1")

# --- Backup gateway (operator) ----------------------------------------------------------------
# A JSON file (it holds the bucket's credentials): {"bucket", "endpoint_url", "region",
# "access_key_id", "secret_access_key", "mode": "COMPLIANCE"|"GOVERNANCE", "days"}.
EGIDE_BACKUP_GATEWAY = config.read_json_file(
    _env, "EGIDE_BACKUP_GATEWAY_FILE", required=("bucket", "access_key_id", "secret_access_key")
)

# --- Outgoing e-mail (alerts) ------------------------------------------------------------------
# With no relay configured, alerts are written as files in the data directory: never lost, and
# visible to whoever administers the practice's computer.
EMAIL_HOST = config.read_str(_env, "EGIDE_EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_PORT = config.read_int(_env, "EGIDE_EMAIL_PORT", 587, low=1, high=65535)
    EMAIL_USE_TLS = True
    EMAIL_HOST_USER = config.read_str(_env, "EGIDE_EMAIL_USER", "")
    EMAIL_HOST_PASSWORD = config.read_secret_file(_env, "EGIDE_EMAIL_PASSWORD_FILE") or ""
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(DATA_DIR / "outbox")
DEFAULT_FROM_EMAIL = config.read_str(_env, "EGIDE_EMAIL_FROM", "Égide <alertes@egide.invalid>")

# --- Security headers ------------------------------------------------------------------------
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0  # sent on HTTPS responses only
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if config.read_bool(_env, "EGIDE_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
    },
}

# --- Language, time, static files ------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("en", "English")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Europe/Paris"
USE_TZ = True
STATIC_URL = "/static/"
WHITENOISE_USE_FINDERS = True  # serve straight from the package: no collectstatic step
WHITENOISE_AUTOREFRESH = DEBUG

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# --- MSSanté trust space and SMTP (table in README.md) -------------------------------------------
# The «liste blanche»: a URL (fetched over HTTPS, pinned to EGIDE_TRUST_LIST_CA_FILE) or a file;
# the last good copy is kept in the data directory. A signed list is checked against the signers.
EGIDE_TRUST_LIST_SOURCE = config.read_str(_env, "EGIDE_TRUST_LIST_SOURCE", "")
EGIDE_TRUST_LIST_CA_FILE = config.read_str(_env, "EGIDE_TRUST_LIST_CA_FILE", "")
EGIDE_TRUST_LIST_SIGNERS_FILE = config.read_str(_env, "EGIDE_TRUST_LIST_SIGNERS_FILE", "")
EGIDE_TRUST_LIST_FILE = str(DATA_DIR / "listeblanche.xml")
EGIDE_SMTP_HOST = config.read_str(_env, "EGIDE_SMTP_HOST", "127.0.0.1")
EGIDE_SMTP_PORT = config.read_int(_env, "EGIDE_SMTP_PORT", 2525, low=0, high=65535)
EGIDE_SMTP_SUBMISSION_PORT = config.read_int(
    _env, "EGIDE_SMTP_SUBMISSION_PORT", 0, low=0, high=65535
)
EGIDE_SMTP_HOSTNAME = config.read_str(_env, "EGIDE_SMTP_HOSTNAME", "localhost")
# The SMTP listeners run on uvloop (ADR 0036); 0 gives asyncio's own loop.
EGIDE_SMTP_UVLOOP = config.read_bool(_env, "EGIDE_SMTP_UVLOOP", True)
# `egide smtp serve`: the relay's durable storage in one child process (ADR 0038).
EGIDE_SMTP_INGEST_PROCESS = config.read_bool(_env, "EGIDE_SMTP_INGEST_PROCESS", True)
EGIDE_SMTP_CERT_FILE = config.read_str(_env, "EGIDE_SMTP_CERT_FILE", "")
EGIDE_SMTP_KEY_FILE = config.read_str(_env, "EGIDE_SMTP_KEY_FILE", "")
EGIDE_SMTP_TRUST_ANCHORS_FILE = config.read_str(_env, "EGIDE_SMTP_TRUST_ANCHORS_FILE", "")
EGIDE_SMTP_CRL_FILES = config.read_list(_env, "EGIDE_SMTP_CRL_FILES", [])
# CRLs downloaded with the liste blanche (every 6 h) into the data directory.
EGIDE_SMTP_CRL_URLS = config.read_list(_env, "EGIDE_SMTP_CRL_URLS", [])
EGIDE_SMTP_CRL_DIR = str(DATA_DIR / "crl")
# Static routes «domain=host:port», tried before DNS MX records (operator relays, tests).
EGIDE_SMTP_ROUTES = config.read_list(_env, "EGIDE_SMTP_ROUTES", [])
# Success/delay notifications (RFC 3461): a «delayed» DSN once a message waited this long.
EGIDE_SMTP_DELAY_WARNING_HOURS = config.read_int(
    _env, "EGIDE_SMTP_DELAY_WARNING_HOURS", 4, low=1, high=96
)
# Access tokens (XOAUTH2) from an OIDC issuer such as Pro Santé Connect; None when not set.
EGIDE_OIDC = config.read_oidc(_env)

# --- IMAP for mail clients and practice software (table in README.md) -----------------------------
# Implicit TLS on EGIDE_IMAP_PORT, STARTTLS on EGIDE_IMAP_STARTTLS_PORT (0 = off). The certificate
# is the SMTP one unless EGIDE_IMAP_CERT_FILE/KEY_FILE name one that mail clients already trust.
EGIDE_IMAP_HOST = config.read_str(_env, "EGIDE_IMAP_HOST", "127.0.0.1")
EGIDE_IMAP_PORT = config.read_int(_env, "EGIDE_IMAP_PORT", 1993, low=0, high=65535)
EGIDE_IMAP_STARTTLS_PORT = config.read_int(_env, "EGIDE_IMAP_STARTTLS_PORT", 0, low=0, high=65535)
EGIDE_IMAP_CERT_FILE = config.read_str(_env, "EGIDE_IMAP_CERT_FILE", "")
EGIDE_IMAP_KEY_FILE = config.read_str(_env, "EGIDE_IMAP_KEY_FILE", "")
