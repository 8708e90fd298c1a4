"""What the cockpit hears from the apps below it (connected in `CockpitConfig.ready`): a booking
closed outside the cockpit (cancelled, completed from its page or the API, a no-show) ends its
cockpit at once: everyone in it sees the session end with the reason, and the scanner's socket
is closed as when the cockpit ends itself."""

from typing import Any

from cockpit.broadcast import console_state_read, session_event_send
from cockpit.models import CockpitSession, CockpitStatus
from cockpit.selectors import cockpit_get, session_view


def booking_closed_received(
    sender: Any,
    *,
    booking_id: int,
    status: str,
    actor_id: int | None,
    reason: str,
    **kwargs: Any,
) -> None:
    from cockpit.services import cockpit_end_for_booking

    cockpit = CockpitSession.objects.filter(booking_id=booking_id).first()
    if cockpit is None or cockpit.status == CockpitStatus.ENDED:
        return  # no cockpit, or it closed the booking itself
    console = console_state_read(cockpit) if cockpit.started_at is not None else None
    ended = cockpit_end_for_booking(booking_id=booking_id, console=console, actor_id=actor_id)
    if ended is None:
        return
    fresh = cockpit_get(cockpit_id=ended.pk)
    session_event_send(
        fresh, "session", {**session_view(fresh), "ended_reason": reason}, ended=True
    )
