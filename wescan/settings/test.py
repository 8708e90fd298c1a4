"""The test suite: the embedded default (or the servers named by DATABASE_URL / REDIS_URL),
with a fast password hasher and tasks run inline."""

import os
import tempfile

from .local import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
NOTIFICATION_MAIL_IN_BACKGROUND = False  # tests read mail.outbox as soon as the call returns
PLAN_SOLVE_IN_BACKGROUND = False  # a plan is solved when its transaction commits, in the test
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Static files from the app folders, as in local mode (no collectstatic before the tests).
WHITENOISE_AUTOREFRESH = True
LOGGING = {"version": 1, "disable_existing_loggers": False}
# Each test closes what it opens: persistent connections held by worker threads (async tests)
# would keep PostgreSQL from dropping the test database.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# SQLite: a test database in a file, not Django's shared-cache in-memory one. Tests that race
# threads (tests/scheduling/test_booking_concurrency.py) need real file locking, so that an
# IMMEDIATE transaction waits on the busy timeout instead of failing with "table is locked".
# One file per process: two test runs in one checkout do not clobber each other's database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"wescan-test-{os.getpid()}.sqlite3")
    }
# The relay's link check is off: the suite's test sockets do not echo its probes. The tests of
# the link check and of the fall-back of control turn it on (tests/cockpit/test_relay_link.py).
COCKPIT_LINK_PROBE_S = 0.0

# pytest-xdist (`make test` runs the suite on three workers): each worker has its own test database
# (pytest-django suffixes it) and its own Redis database (the cache, whose clear() flushes it,
# and the cockpit relay's store, whose keys repeat across the workers' databases), and its own
# channel-layer prefix (pub/sub channels are shared by every Redis database). Live servers the
# tests fork inherit the worker's environment, hence these settings.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_SHARED_REDIS_URL = os.environ.get("REDIS_URL", "")
if _WORKER and _SHARED_REDIS_URL:
    REDIS_URL = f"{_SHARED_REDIS_URL.rsplit('/', 1)[0]}/{1 + int(_WORKER.removeprefix('gw') or 0)}"
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"asgi-{_WORKER}"},
        }
    }
    CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405
# The idle timeout is off: tests move the frozen clock by hours between a person's requests.
# Its own tests turn it on (tests/accounts/test_sessions.py, tests/cockpit/test_sessions_*.py).
SESSION_IDLE_TIMEOUT_S = 0
