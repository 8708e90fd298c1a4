"""Every write in scheduling, one function per use case: availability windows (published by
the technologist or lent by their manager) and bookings (one service per transition)."""

from scheduling.services.availability import *  # noqa: F403
from scheduling.services.bookings import *  # noqa: F403
from scheduling.services.calendar_feeds import *  # noqa: F403
from scheduling.services.ledger import *  # noqa: F403
from scheduling.services.on_call import *  # noqa: F403
