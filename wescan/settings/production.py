"""Production: secrets and hosts only from the environment, every security setting on.

A few switches exist for running these settings over plain http on one's own machine (`make
cluster`, wescan/cluster.py), never on a server that people reach: SECURE_SSL_REDIRECT=0,
SECURE_HSTS_SECONDS=0, SECURE_COOKIES=0 (cookies also sent over http), and
ACCOUNT_DEFAULT_HTTP_PROTOCOL=http (allauth's links). EMAIL_BACKEND (with EMAIL_FILE_PATH) may
write mail to files instead of SMTP; STATIC_ROOT may move the collected static files.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env_bool

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be set to at least 50 random characters.")
DEBUG = False

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# The load balancer's health checks reach each Daphne directly, over http and without
# X-Forwarded-Proto: a redirect to https would read as a dead server.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
# Local use only: SECURE_COOKIES=0 lets the session, CSRF and language cookies travel over http.
SECURE_COOKIES = env_bool("SECURE_COOKIES", True)
SESSION_COOKIE_SECURE = SECURE_COOKIES
LANGUAGE_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
X_FRAME_OPTIONS = "DENY"

ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_DEFAULT_HTTP_PROTOCOL = os.environ.get("ACCOUNT_DEFAULT_HTTP_PROTOCOL", "https")

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", "")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
# A mail server that takes the connection and never answers would hold a worker (and the notice's
# row lock) for good: a send gives up after this many seconds, and is retried later.
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "30"))

if os.environ.get("STATIC_ROOT"):
    STATIC_ROOT = Path(os.environ["STATIC_ROOT"])
