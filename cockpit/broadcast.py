"""Session events sent from sync code: a service's change (a request for help raised, escalated,
taken) told to everyone in the cockpit once its transaction commits (the service registers the
call with `transaction.on_commit`). Numbered, kept and handed to every process's fan-out by the
relay's store like every other event (`cockpit.fanout`), so a client that reconnects catches up
on it too and it reaches everyone in seq order."""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from cockpit.groups import session_group, store_prefix
from cockpit.models import CockpitSession
from cockpit.schemas import MOVES_EVENTS
from cockpit.selectors import cockpit_get, room_data, room_of
from cockpit.store import RedisStore, store


def session_event_send(
    cockpit: CockpitSession, event_type: str, payload: dict[str, Any], *, ended: bool = False
) -> int:
    """Number and keep one session event, and send it to everyone in the session. The seq.
    `ended`: the session is over: the scanner's socket gets it too, and is closed."""
    prefix = store_prefix(cockpit)
    # The rules' view of the session now: each socket works out its person's moves.
    room = (
        room_data(room_of(cockpit_get(cockpit_id=cockpit.pk)))
        if event_type in MOVES_EVENTS
        else None
    )
    relay_store = store()
    if isinstance(relay_store, RedisStore):
        seq, _text = relay_store.publish_blocking(
            prefix, event_type, payload, ended=ended, room=room
        )
    else:
        # The memory store belongs to the server's event loop: async_to_sync from a worker
        # thread of that server runs the call there.
        seq, _text = async_to_sync(relay_store.publish)(
            prefix, event_type, payload, ended=ended, room=room
        )
    return seq


def console_state_read(cockpit: CockpitSession) -> dict[str, Any] | None:
    """The scanner's last console state as the relay keeps it (sync code: services, receivers)."""
    prefix = store_prefix(cockpit)
    relay_store = store()
    if isinstance(relay_store, RedisStore):
        return relay_store.state_blocking(prefix)
    return async_to_sync(relay_store.snapshot)(prefix).state


def assistant_dismiss(cockpit: CockpitSession, user_id: int) -> None:
    """A senior's help is over: the relay closes their assistant sockets in this session (a
    channel-layer message: rare, and not a numbered event)."""
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(
            session_group(cockpit.pk), {"type": "cockpit.dismissed", "user": user_id}
        )
