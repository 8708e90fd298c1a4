"""Settings shared by every mode, read from the environment with embedded defaults."""

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF

from core.ids import ID_SCHEMA

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "core.views.csrf_failure"  # JSON under /api/, Django's page elsewhere

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # allauth's passkey list and session list pages load its `humanize` filters.
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "core",
    "accounts",
    "marketplace",
    "scheduling",
    "cockpit",
    "operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # django-csp's CSPMiddleware, adding the site's own websocket origin (see the policy below).
    "core.csp.SiteCSPMiddleware",
    "core.middleware.ApiRequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's language (or the language cookie); a signed-in person's own choice wins below.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.language.PersonLanguageMiddleware",  # the language chosen in the profile
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.sessions_middleware.SessionIdleMiddleware",  # sessions: idle timeout, last seen
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Nothing but setting up a second factor for one who must have one (accounts.mfa_required).
    "accounts.mfa_required.SecondFactorRequiredMiddleware",
    "core.middleware.DomainErrorMiddleware",
]

ROOT_URLCONF = "wescan.urls"
ASGI_APPLICATION = "wescan.asgi.application"
WSGI_APPLICATION = "wescan.wsgi.application"

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
                "core.context_processors.navigation",
                "core.context_processors.notifications",
                "marketplace.context_processors.pending_invitation",
                "marketplace.context_processors.viewer_clock",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# Embedded: one SQLite file in WAL mode. IMMEDIATE transactions take the write lock at BEGIN, so
# two writers queue on the busy timeout instead of failing half-way with "database is locked".
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # Under ASGI each request runs in a thread of its own, so "persistent" connections would be
    # opened per request (bench_api_lists saw ~50 new sessions a second). A psycopg pool per
    # process keeps them instead; Django requires CONN_MAX_AGE = 0 alongside it.
    # Health checks: the pool tries a connection (an empty query) before handing it out, so one
    # the server closed meanwhile (PostgreSQL restarted) is replaced instead of failing a request.
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)
    }
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": int(os.environ.get("DATABASE_POOL_SIZE", "10")),
        # How long a request waits for a connection. Django's sync views (and the consumers'
        # database calls) share one thread per process, so a wait here means the server is not
        # answering: with PostgreSQL down each request held the thread for the whole wait before
        # its 503, and every request queued behind it.
        "timeout": float(os.environ.get("DATABASE_POOL_TIMEOUT", "3")),
    }
    # What the planner takes a random page read to cost against a sequential one. PostgreSQL's
    # default (4) prices every index probe as a disk seek; WeScan's working set sits in memory (or
    # on SSD), for which PostgreSQL's documentation suggests about 1.1. At 4, the dashboard's
    # counts of one hospital's bookings, cockpits, exams and requests read each whole table in
    # parallel workers and hashed it (EXPLAIN ANALYZE at 200,000 bookings: 29-52 ms a query); at
    # 1.1 they walk from the hospital's postings down the indexes (12-24 ms), and the page took
    # about half the time. A server tuned otherwise sets DATABASE_RANDOM_PAGE_COST.
    random_page_cost = float(os.environ.get("DATABASE_RANDOM_PAGE_COST", "1.1"))
    DATABASES["default"]["OPTIONS"]["options"] = f"-c random_page_cost={random_page_cost}"
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA busy_timeout=20000;"
                    "PRAGMA foreign_keys=ON;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, cache, Celery broker -----------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # Pub/sub: a group message is one PUBLISH that Redis hands to each subscribed Daphne
    # process once, which fans it out to its own sockets (the cockpit relay sends ~500 events a
    # second to groups of six; the list-based layer did one Lua call per member and dropped
    # events under that load, see bench/bench_cockpit.py). At-most-once, like every layer: the
    # relay numbers its events and clients resync from their last seq.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "wescan",
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "wescan.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 500}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# Eager Celery (the embedded mode) sends a notice's mail in the caller's thread; a background
# thread keeps a request that tells hundreds of people from holding Daphne's sync thread.
NOTIFICATION_MAIL_IN_BACKGROUND = CELERY_TASK_ALWAYS_EAGER
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# Periodic jobs (`celery -A wescan beat`). Each queries by status and deadline, so a missed or
# doubled run does no harm; `expires` drops a run that waited in the queue past the next one.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "licence-expiry-warnings": {
        "task": "marketplace.tasks.licence_expiry_warnings",
        "schedule": crontab(hour=6, minute=0),  # daily, 06:00 UTC: before the working day
        "options": {"expires": 12 * 3600},
    },
    "expire-postings": {
        "task": "marketplace.tasks.expire_postings",
        "schedule": 5 * 60.0,  # every five minutes
        "options": {"expires": 4 * 60},
    },
    "booking-reminders": {
        "task": "scheduling.tasks.booking_reminders",
        "schedule": 5 * 60.0,  # every five minutes: the 1 h reminder comes 55–60 min ahead
        "options": {"expires": 4 * 60},
    },
    "expire-bookings": {
        "task": "scheduling.tasks.booking_expire_due",
        "schedule": 5 * 60.0,
        "options": {"expires": 4 * 60},
    },
    "plan-network-nightly": {
        "task": "scheduling.tasks.plan_network_nightly",
        # Daily, 02:00 UTC: a proposal for the whole network is ready for admins in the morning.
        # Proposal only: nothing is sent without a person.
        "schedule": crontab(hour=2, minute=0),
        "options": {"expires": 12 * 3600},
    },
    "fail-stale-plans": {
        "task": "scheduling.tasks.plan_fail_stale",
        "schedule": 5 * 60.0,
        "options": {"expires": 4 * 60},
    },
    "notification-mails-overdue": {
        # A mail whose task was lost (the broker down, a worker killed) goes out once it is back.
        "task": "core.tasks.notification_mails_overdue",
        "schedule": 5 * 60.0,
        "options": {"expires": 4 * 60},
    },
    "escalate-assist-requests": {
        "task": "cockpit.tasks.assist_escalate_due",
        # Every 15 s: a step is due 3 minutes after the last and happens within 15 s of it.
        "schedule": 15.0,
        "options": {"expires": 14},
    },
}

# --- Optimiser (scheduling.services.plans) --------------------------------------------------------
# How long one plan's solve may search before it answers with the best it found (seconds), and
# the most a person may ask for.
OPTIMISER_TIME_LIMIT_S = float(os.environ.get("OPTIMISER_TIME_LIMIT_S", "10"))
OPTIMISER_MAX_TIME_LIMIT_S = float(os.environ.get("OPTIMISER_MAX_TIME_LIMIT_S", "120"))
# Eager Celery (the embedded mode) would solve in the request's thread: a background thread keeps
# a plan's seconds of search off Daphne's one sync thread.
PLAN_SOLVE_IN_BACKGROUND = CELERY_TASK_ALWAYS_EAGER

# --- Senior assistance ------------------------------------------------------------------------
# An unanswered request for help widens after this long (to experienced technologists), and
# after as long again alerts the managers of the operator's hospital.
ASSIST_ESCALATE_AFTER_SECONDS = int(os.environ.get("ASSIST_ESCALATE_AFTER_SECONDS", "180"))

# --- Cockpit relay ----------------------------------------------------------------------------
# Frames a socket may send (token buckets, cockpit.consumers): a person (chat, commands, control;
# local staff's STOP is never limited) types and clicks, so a few a second with room for a burst;
# the scanner agent publishes about ten state frames a second and one more after each command.
COCKPIT_PERSON_FRAMES = {
    "per_second": float(os.environ.get("COCKPIT_PERSON_FRAMES_PER_SECOND", "5")),
    "burst": int(os.environ.get("COCKPIT_PERSON_FRAMES_BURST", "20")),
}
COCKPIT_SCANNER_FRAMES = {
    "per_second": float(os.environ.get("COCKPIT_SCANNER_FRAMES_PER_SECOND", "50")),
    "burst": int(os.environ.get("COCKPIT_SCANNER_FRAMES_BURST", "100")),
}
# The link check (cockpit.link): the relay probes each person's socket this often (the echoes take
# one frame a second of the five a person may send); a remote controller not heard from for
# COCKPIT_CONTROL_LINK_TIMEOUT_S (five probes missed) has lost their link, and control falls
# back to local staff. Round trip and jitter above WARN are shown as a warning on every screen;
# above REFUSE the exam does not start under that controller (see cockpit/link.py for why these).
COCKPIT_LINK_PROBE_S = float(os.environ.get("COCKPIT_LINK_PROBE_S", "1"))
COCKPIT_CONTROL_LINK_TIMEOUT_S = float(os.environ.get("COCKPIT_CONTROL_LINK_TIMEOUT_S", "5"))
COCKPIT_LINK_WARN = {"rtt_ms": 150.0, "jitter_ms": 30.0}
COCKPIT_LINK_REFUSE = {"rtt_ms": 400.0, "jitter_ms": 100.0}

# --- Accounts ---------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_REDIRECT_URL = "/"
LOGIN_URL = "account_login"
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = os.environ.get("ACCOUNT_EMAIL_VERIFICATION", "optional")
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = None
# The sign-in page's form and view: a refused sign-in answers 429 with Retry-After.
ACCOUNT_FORMS = {"login": "accounts.forms.LoginForm", "signup": "accounts.forms.SignupForm"}
# allauth's own rate limits (kept in the cache): password resets, sign-ups. Failed password
# sign-ins are not among them: `accounts.services.login_authenticate` counts those, for the page
# and the API token endpoint alike (allauth's "login_failed" is left to its second-factor codes).
ACCOUNT_RATE_LIMITS = {
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
}
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[WeScan] "
# Second factor (allauth.mfa): an authenticator app (TOTP), recovery codes, and passkeys.
# Who must have one: accounts.second_factor.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = "WeScan"
# --- Sessions (accounts.sessions) ---
# A signed-in session not seen for this long is signed out on its next request (a connected
# cockpit page keeps it alive); 0 turns the timeout off. allauth.usersessions keeps the list of
# one's sessions; its "last seen" is the clock the timeout reads (kept by WeScan's middleware,
# to the minute, instead of allauth's, which writes on every request).
SESSION_IDLE_TIMEOUT_S = int(os.environ.get("SESSION_IDLE_TIMEOUT_S", str(30 * 60)))
USERSESSIONS_TRACK_ACTIVITY = True
# --- Second factor: WeScan's choices (accounts.mfa, accounts.mfa_required) ---
MFA_ADAPTER = "accounts.mfa.MFAAdapter"
# Plain words for adding a passkey; an app's set-up page keeps its secret when reloaded; the
# code step names a used recovery code and says when to come back after too many wrong codes
# (accounts.mfa).
MFA_FORMS = {
    "activate_totp": "accounts.mfa.ActivateAppForm",
    "add_webauthn": "accounts.mfa.AddPasskeyForm",
    "authenticate": "accounts.mfa.AuthenticateForm",
    "authenticate_webauthn": "accounts.mfa.AuthenticatePasskeyForm",
}
# A code from the period before or after the server's is accepted too: a phone's clock a few
# seconds off, or a code typed as its 30 s run out, still signs in (each code once: allauth
# remembers the used ones for the whole window).
MFA_TOTP_TOLERANCE = 1
# Passkeys are bound to the host name: browsers refuse them on an IP address, and allow plain
# http only on localhost, so in development open http://localhost:PORT to use one. No insecure
# origins are accepted (MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN stays False).
# Recovery codes are shown again on request (after confirming one's password), not only once.
MFA_RECOVERY_CODES_SHOW_ONCE = False
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "WeScan <no-reply@wescan.local>")
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

INVITATION_VALID_DAYS = 7

# --- Client addresses and sign-in throttling ------------------------------------------------
# How many reverse proxies of ours stand in front of Daphne. 0: Daphne faces the clients, and the
# client is the address the connection comes from (X-Forwarded-For, which anyone can write, is
# ignored). N: the client is the Nth address from the right of X-Forwarded-For, the one our
# outermost proxy wrote. `core.client_address.client_ip` is the one reading; DRF's and allauth's
# own settings are kept in agreement for anything that reads the header itself.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
# Failed password sign-ins, as (failures, window in seconds), counted in fixed windows:
# per account and client address (a short lock, which also holds the owner's own address);
# per account from anywhere, and per address over all accounts (both of which hold back only
# addresses the account has not signed in from before, so a stranger cannot lock the owner out).
LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS = (5, 5 * 60)
LOGIN_FAILURES_PER_ACCOUNT = (20, 60 * 60)
LOGIN_FAILURES_PER_ADDRESS = (50, 15 * 60)
# An address the account signed in from within this many days is one of its usual addresses.
LOGIN_USUAL_ADDRESS_DAYS = 90

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous API client is told 401 with a WWW-Authenticate header.
        # Personal access tokens (accounts.tokens), `Authorization: Token <secret>`.
        "accounts.tokens.AccessTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.Pagination",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"token": "10/min"},
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "WeScan API",
    "DESCRIPTION": (
        "Hospitals, sites, scanners, memberships and invitations; technologists and their "
        "licences, availability, and session postings. Every list is scoped to the "
        "caller's memberships; another hospital's objects answer 404. Errors share one shape: "
        '`{"error": {"code": ..., "message": ..., "fields": {...}}}`.'
    ),
    "VERSION": "1.0.0",
    # Ids in paths (the `id` converter, core.ids): 1 to 2^63 - 1.
    "PATH_CONVERTER_OVERRIDES": {"id": ID_SCHEMA},
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # One schema component per choice set, whatever the field is called (seniority and
    # min_seniority, vendor and vendors).
    "ENUM_NAME_OVERRIDES": {
        "SeniorityEnum": "marketplace.models.Seniority",
        "VendorEnum": "marketplace.models.Vendor",
        "BookingSideEnum": "scheduling.models.Initiator",
        "PlanStatusEnum": "scheduling.models.PlanStatus",
        "PlanScopeEnum": ["hospital", "network"],
        "TokenScopeEnum": "accounts.models.TokenScope",
        "TokenStatusEnum": ["active", "expired", "revoked"],
    },
}
# Anything larger than this is refused with 413 before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- Content Security Policy (django-csp; core.csp) ---------------------------------------------
# Every script, stylesheet, font and image is a file under /static/ (images may also be data:
# URIs: the charts); nothing inline: no <script> or <style> element with
# code in it, no style="" or on…="" attribute, no javascript: address. Behaviour comes from
# static JS reading data-* attributes, so no nonce is needed anywhere (a page that ever needs one
# reads `request.csp_nonce`, and django-csp adds it to that response's script-src).
# connect-src: this site, plus the websocket origin of the host each request came to
# (core.csp.SiteCSPMiddleware): the cockpit and notifications sockets, never another host.
# frame-ancestors 'none': no site may frame WeScan (X_FRAME_OPTIONS says the same to older
# browsers). Violations are reported to /csp-report/ (core.views.csp_report), which logs them on
# the `wescan.csp` logger. report-uri, not report-to: Chromium, given both, uses only the
# Reporting API, which batches reports and sends them up to a minute later; report-uri reports
# arrive at once, from every browser. The endpoint reads both kinds.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "report-uri": "/csp-report/",
    }
}
# A violation report is refused with 413 above this size, before it is parsed; reports from one
# client address are counted in a token bucket (a page sends one per violation at once).
CSP_REPORT_MAX_BYTES = 16 * 1024
CSP_REPORTS_PER_ADDRESS = {
    "per_second": float(os.environ.get("CSP_REPORTS_PER_SECOND", "2")),
    "burst": int(os.environ.get("CSP_REPORTS_BURST", "60")),
}

# --- Internationalisation, static files --------------------------------------------------------
# WeScan speaks English, Dutch and French (accounts.language): the person's own choice, else the
# browser's Accept-Language; URLs are the same in every language. Catalogues live in locale/
# (`make messages` extracts, `make install` compiles them).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("nl", "Nederlands"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates, times (24-hour) and numbers as each language writes them (wescan/formats/<code>/).
FORMAT_MODULE_PATH = ["wescan.formats"]
LANGUAGE_COOKIE_NAME = "wescan_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"without_traceback": {"()": "core.logging.WithoutTraceback"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "console_one_line": {
            "class": "logging.StreamHandler",
            "filters": ["without_traceback"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.security": {"handlers": ["console_one_line"], "propagate": False},
    },
}

# The address people reach WeScan at, for links in e-mails sent by background tasks.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
