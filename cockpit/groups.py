"""Channel-layer group names and store keys of the cockpit relay, built in one place so that the
consumer, the services that broadcast on commit and the tests always agree."""

from cockpit.models import CockpitSession


def session_group(session_id: int) -> str:
    """Everyone connected to one cockpit session: scanner, operator, local, assistant, observer."""
    return f"cockpit.{session_id}"


def lobby_group(session_id: int) -> str:
    """An operator waiting for local staff to approve their join: told when they do."""
    return f"cockpit.{session_id}.lobby"


def store_prefix(cockpit: CockpitSession) -> str:
    """Where one session's events live in the relay's store (Redis in production). The creation
    time is part of it: a database rebuilt from scratch reuses ids, and a new session must not
    inherit an old one's history."""
    return f"wescan:cockpit:{cockpit.pk}:{int(cockpit.created_at.timestamp() * 1000)}"


def store_key(prefix: str, part: str) -> str:
    """One of a session's keys: `seq`, `events`, `snapshot`, `chat`, `presence`, ..."""
    return f"{prefix}:{part}"
