"""The test suite: the embedded default (or the servers named by DATABASE_URL / REDIS_URL),
with a fast password hasher and tasks run inline."""

from .local import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Static files from the app folders, as in local mode (no collectstatic before the tests).
WHITENOISE_AUTOREFRESH = True
LOGGING = {"version": 1, "disable_existing_loggers": False}
# Each test closes what it opens: persistent connections held by worker threads (async tests)
# would keep PostgreSQL from dropping the test database.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
