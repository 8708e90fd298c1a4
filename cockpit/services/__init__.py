"""Every write in the cockpit, one function per use case: the session itself (consent, control,
console, start and end, the exam's outcome) and requests for help from a senior colleague."""

from cockpit.services.assist import *  # noqa: F403
from cockpit.services.outcome import *  # noqa: F403
from cockpit.services.session import *  # noqa: F403
