"""`/healthz`: whether this process serves, for the load balancer in front of the Daphne
processes (HAProxy checks it every second or so, on every process).

The plain check reads nothing: no session, no database, no Redis. A database or Redis outage is
the same for every process, and marking them all down would turn every page into the
balancer's 503 when most pages (and the static files) still work. `/healthz?deep` also asks
PostgreSQL (or SQLite) for `SELECT 1` and Redis for a PING, and answers 503 naming what failed:
for monitoring, not for the balancer."""

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any failure is the answer here, said by its class
        return f"down: {type(error).__name__}"
    return "ok"


def _redis() -> str:
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return "not used"
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"down: {type(error).__name__}"
    finally:
        client.close()
    return "ok"


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    if "deep" not in request.GET:
        return JsonResponse({"status": "ok"})
    checks = {"database": _database(), "redis": _redis()}
    healthy = all(value in ("ok", "not used") for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "down", **checks}, status=200 if healthy else 503
    )
