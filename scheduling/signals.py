"""What scheduling tells the apps above it, without knowing them (they connect in their
AppConfig.ready): a booking closed by a move outside them."""

from django.dispatch import Signal

# Sent once the move commits, by `scheduling.services` when a confirmed or running booking is
# cancelled, completed or marked a no-show. Arguments: booking_id, status (the new one),
# actor_id, reason (words for the people still in its cockpit).
booking_closed = Signal()
