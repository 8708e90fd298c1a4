"""Signed-in sessions: the idle timeout, the list of one's sessions, and signing out everywhere.

The clock of a session's activity is allauth's `UserSession.last_seen_at` (allauth.usersessions
keeps one row per signed-in session): the list shows it as "last seen", and the idle timeout
reads the same field, so what a person sees is what signs them out. It is written at most once
every `session_touch_every()` (a minute, or a quarter of the idle timeout if shorter: a write
per request would cost every page a write for a figure shown to the minute):

- every request of a signed-in session (`session_activity`, from
  `accounts.sessions_middleware.SessionIdleMiddleware`), which also records a session signed in
  some other way than through allauth (its first request starts its row);
- a live cockpit page while its socket is connected (`session_keep_alive`, from the cockpit
  relay's heartbeat): an exam can run longer than the idle timeout with no page request.

A session not seen for SESSION_IDLE_TIMEOUT_S (0 turns the timeout off) is signed out on its
next request or its socket's next keep-alive; nothing extends a session that is signed out or
already idle.
"""

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module

from allauth.usersessions.adapter import get_adapter as get_sessions_adapter
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.sessions.backends.base import SessionBase
from django.core import checks
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from accounts.models import User
from core.audit import audit_record
from core.client_address import client_ip
from core.notify import sessions_ended_on_commit

# "Last seen" is kept to the minute: at most one write a minute per session (more often when
# a quarter of the idle timeout is shorter, so that an active session is never seen as idle).
SESSION_TOUCH_EVERY_S = 60
# The shortest idle timeout allowed (0 turns it off): shorter would sign out someone reading a
# page, and cost a write every few requests.
SESSION_IDLE_TIMEOUT_MIN_S = 5 * 60


def session_idle_timeout() -> timedelta | None:
    """How long a session may stay idle before it is signed out; None when there is no limit."""
    seconds = int(getattr(settings, "SESSION_IDLE_TIMEOUT_S", 0) or 0)
    return timedelta(seconds=seconds) if seconds > 0 else None


def session_touch_every() -> timedelta:
    """How stale "last seen" may get: a minute, or a quarter of the idle timeout if shorter."""
    every = timedelta(seconds=SESSION_TOUCH_EVERY_S)
    timeout = session_idle_timeout()
    return every if timeout is None else min(every, timeout / 4)


def session_idle_timeout_words() -> str:
    """The idle timeout as a sentence says it: "30 minutes", "1 minute", "90 seconds"."""
    timeout = session_idle_timeout()
    seconds = int(timeout.total_seconds()) if timeout else 0
    if seconds % 60 == 0:
        minutes = seconds // 60
        return ngettext("%(count)s minute", "%(count)s minutes", minutes) % {"count": minutes}
    return ngettext("%(count)s second", "%(count)s seconds", seconds) % {"count": seconds}


@checks.register(checks.Tags.security)
def check_idle_timeout(**kwargs: object) -> list[checks.CheckMessage]:
    """SESSION_IDLE_TIMEOUT_S is 0 (off) or at least SESSION_IDLE_TIMEOUT_MIN_S."""
    raw = getattr(settings, "SESSION_IDLE_TIMEOUT_S", 0)
    if isinstance(raw, int) and (raw == 0 or raw >= SESSION_IDLE_TIMEOUT_MIN_S):
        return []
    return [
        checks.Error(
            f"SESSION_IDLE_TIMEOUT_S is {raw!r}: it must be 0 (no idle timeout) or at least "
            f"{SESSION_IDLE_TIMEOUT_MIN_S} seconds.",
            hint="A shorter timeout signs out people who are reading a page.",
            id="accounts.E001",
        )
    ]


def session_is_idle(last_seen_at: datetime, now: datetime) -> bool:
    timeout = session_idle_timeout()
    return timeout is not None and now - last_seen_at > timeout


def _due(last_seen_at: datetime, now: datetime) -> bool:
    return now - last_seen_at >= session_touch_every()


def session_activity(request: HttpRequest) -> bool:
    """A request of a signed-in session: False when the session had been idle too long (the
    caller signs it out); otherwise its activity is recorded (to the minute) and True."""
    session_key = request.session.session_key
    if not session_key:
        return True
    now = timezone.now()
    address, user_agent = _address(request), _user_agent(request)
    row = (
        UserSession.objects.filter(session_key=session_key)
        .only("user_id", "last_seen_at", "ip", "user_agent")
        .first()
    )
    if row is None:
        # Signed in without allauth's signal (a test's force_login, the admin): start it here.
        UserSession.objects.get_or_create(
            session_key=session_key,
            defaults={
                "user": request.user,
                "ip": address,
                "user_agent": user_agent,
                "created_at": now,
                "last_seen_at": now,
            },
        )
        return True
    if row.user_id != request.user.pk:
        # The key now carries someone else (signed in anew on this browser): their session.
        UserSession.objects.filter(pk=row.pk).update(
            user=request.user, ip=address, user_agent=user_agent, created_at=now, last_seen_at=now
        )
        return True
    if session_is_idle(row.last_seen_at, now):
        row.delete()  # the caller signs the session itself out
        return False
    if _due(row.last_seen_at, now) or (row.ip, row.user_agent) != (address, user_agent):
        UserSession.objects.filter(pk=row.pk).update(
            last_seen_at=now, ip=address, user_agent=user_agent
        )
    return True


def _address(request: HttpRequest) -> str:
    """The client's address as WeScan reads it (trusted proxies); 0.0.0.0 when it is none."""
    address = client_ip(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return "0.0.0.0"  # noqa: S104 (a placeholder stored, not an address bound)


def _user_agent(request: HttpRequest) -> str:
    limit = UserSession._meta.get_field("user_agent").max_length or 0
    return str(request.META.get("HTTP_USER_AGENT", ""))[:limit]


def session_keep_alive(*, session_key: str, user_id: int) -> bool:
    """A live socket of this session says the person is still there (the cockpit relay, once a
    minute). False when the session is signed out (ended, signed out everywhere, idle too long,
    or no longer this person's): the socket closes and the session is not extended."""
    # A session signed out, ended or expired loads empty.
    if str(_session_store(session_key).load().get(SESSION_KEY)) != str(user_id):
        return False
    now = timezone.now()
    row = (
        UserSession.objects.filter(session_key=session_key).only("user_id", "last_seen_at").first()
    )
    if row is None:
        return True  # not tracked yet: its next page request starts the clock
    if row.user_id != user_id:
        return False
    if session_is_idle(row.last_seen_at, now):
        row.end()
        return False
    if _due(row.last_seen_at, now):
        UserSession.objects.filter(pk=row.pk, last_seen_at__lt=now).update(last_seen_at=now)
    return True


def _session_store(session_key: str) -> SessionBase:
    engine = import_module(settings.SESSION_ENGINE)
    store: SessionBase = engine.SessionStore(session_key)
    return store


# --- The list, and signing out ------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRow:
    id: int
    device: str
    ip: str
    started_at: datetime
    last_seen_at: datetime
    current: bool


def sessions_of(request: HttpRequest) -> list[SessionRow]:
    """The signed-in sessions of the person making the request, the most recently seen first,
    this one marked. Rows of sessions that ended some other way (a sign-out, an expired cookie)
    are dropped on the way."""
    user = request.user
    assert isinstance(user, User)
    current_key = request.session.session_key
    rows = UserSession.objects.purge_and_list(user)
    rows.sort(key=lambda row: (row.session_key != current_key, -row.last_seen_at.timestamp()))
    return [
        SessionRow(
            id=row.pk,
            device=device_label(row.user_agent),
            ip=row.ip,
            started_at=row.created_at,
            last_seen_at=row.last_seen_at,
            current=row.session_key == current_key,
        )
        for row in rows
    ]


def sessions_end_others(request: HttpRequest) -> int:
    """Sign out every other session of this person; how many were ended. Their cockpit sockets
    close at their next keep-alive (within a minute)."""
    user = request.user
    assert isinstance(user, User)
    others = list(
        UserSession.objects.filter(user_id=user.pk).exclude(
            session_key=request.session.session_key or ""
        )
    )
    get_sessions_adapter().end_sessions(others)
    sessions_ended_on_commit(user_id=user.pk, session_keys=[row.session_key for row in others])
    if others:  # (setting up a second factor asks too, mostly with none to end)
        audit_record(
            actor=user, action="auth.other_sessions_ended", target=user, data={"count": len(others)}
        )
    return len(others)


def sessions_end_all(request: HttpRequest) -> int:
    """Sign out every session of this person, this one too; how many were ended."""
    ended = sessions_end_others(request)
    UserSession.objects.filter(session_key=request.session.session_key or "").delete()
    logout(request)  # its notification sockets close on `user_logged_out`
    return ended + 1


def session_signed_out(
    sender: object, *, request: HttpRequest | None, user: User | None, **kwargs: object
) -> None:
    """`user_logged_out`: the session being signed out closes its notification sockets."""
    if request is None or user is None:
        return
    key = request.session.session_key
    if key:
        sessions_ended_on_commit(user_id=user.pk, session_keys=[key])


def sessions_end_for_user(*, user: User) -> int:
    """Every session of this person, wherever they are (erasure, a platform admin's action)."""
    rows = list(UserSession.objects.filter(user_id=user.pk))
    get_sessions_adapter().end_sessions(rows)
    sessions_ended_on_commit(user_id=user.pk, session_keys=[row.session_key for row in rows])
    return len(rows)


# --- How a browser is named in the list ----------------------------------------------------------

_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"))
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def device_label(user_agent: str) -> str:
    """'Firefox on Windows', from a User-Agent header; 'Unknown browser' when it says nothing
    recognisable (a script, an empty header)."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "")
    if not browser and "Safari/" in user_agent and "Version/" in user_agent:
        browser = "Safari"
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "")
    if browser and system:
        return gettext("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    return browser or system or gettext("Unknown browser")
