"""What scheduling hears from the apps below it (connected in `SchedulingConfig.ready`): a
posting its hospital cancelled takes its pending invitations and applications with it."""

from typing import Any

from accounts.models import User
from marketplace.models import SessionPosting
from scheduling.services.bookings import bookings_close_for_cancelled_posting


def posting_cancelled_received(
    sender: Any, *, posting: SessionPosting, actor: User, **kwargs: Any
) -> int:
    """How many bookings closed; inside `posting_cancel`'s transaction, the posting locked."""
    return bookings_close_for_cancelled_posting(actor=actor, posting=posting)
