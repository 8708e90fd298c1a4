"""A piece WeScan stands on (the database, Redis) not answering: the request is answered 503 with
`Retry-After` and a sentence saying so, never 500, and the failure is logged as a warning, not as
a bug. Once the piece is back the next request goes through (the database's pool checks a
connection before handing it out; redis-py reconnects on its own).

Only the loss of the connection counts: an error the server answered (a constraint, a syntax
error, a missing table) is a bug and stays a 500."""

import logging
import sys

from django.db import utils as db_errors
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _

from core.api import error_body

logger = logging.getLogger(__name__)

# How long a client waits before it tries again: a restart of either piece takes seconds.
RETRY_AFTER_S = 5

# PostgreSQL's SQLSTATE classes for a lost server: 08 (connection exception) and 57 (operator
# intervention: the server shutting down, or starting up and not taking connections yet).
_LOST_CONNECTION_CLASSES = ("08", "57")


def piece_unavailable(exception: BaseException | None) -> str | None:
    """ "database" or "redis" when `exception` (or what caused it) is that piece not answering,
    else None."""
    seen: set[int] = set()
    while exception is not None and id(exception) not in seen:
        seen.add(id(exception))
        if _database_lost(exception):
            return "database"
        if _redis_lost(exception):
            return "redis"
        exception = exception.__cause__ or exception.__context__
    return None


def _database_lost(exception: BaseException) -> bool:
    if isinstance(exception, db_errors.InterfaceError):
        return True  # Django's or psycopg's "connection already closed"
    try:
        import psycopg
        import psycopg_pool
    except ImportError:  # the embedded mode (SQLite) may run without them
        return False
    if isinstance(exception, psycopg_pool.PoolTimeout | psycopg.InterfaceError):
        return True
    if isinstance(exception, psycopg.OperationalError):
        sqlstate = exception.sqlstate
        # No SQLSTATE: the server never answered (refused, reset, closed under us).
        return sqlstate is None or sqlstate.startswith(_LOST_CONNECTION_CLASSES)
    return False


def _redis_lost(exception: BaseException) -> bool:
    try:
        import redis
    except ImportError:
        return False
    if isinstance(exception, redis.ConnectionError | redis.TimeoutError):
        return True
    try:
        from kombu.exceptions import OperationalError as BrokerUnreachable
    except ImportError:
        return False
    return isinstance(exception, BrokerUnreachable)


def unavailable_message(piece: str) -> str:
    """What a person is told while `piece` ("database" or "redis") is not answering."""
    if piece == "database":
        return _("The database is not answering just now. Please try again in a few seconds.")
    return _("Redis is not answering just now. Please try again in a few seconds.")


def unavailable_response(request: HttpRequest, piece: str) -> HttpResponse:
    """503 with Retry-After: the API's error shape, or a page that needs neither the database
    nor Redis to render (no request context: its processors read the signed-in person)."""
    message = unavailable_message(piece)
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    logger.warning("503 for %s %s: %s is not answering", request.method, request.path, piece)
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("unavailable", message), status=503, headers=headers)
    page = loader.render_to_string("503.html", {"message": message})
    return HttpResponse(page, status=503, headers=headers)


def unavailable_response_for_current_exception(request: HttpRequest) -> HttpResponse | None:
    """In Django's handler500 (which is given no exception): the 503 when the exception being
    handled is a piece not answering, else None."""
    piece = piece_unavailable(sys.exc_info()[1])
    return None if piece is None else unavailable_response(request, piece)
