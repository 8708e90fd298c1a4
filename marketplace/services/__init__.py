"""Every write in the marketplace, one function per use case: tenancy (hospitals, sites,
scanners, memberships, invitations), technologists (profiles, licences) and postings."""

from marketplace.services.postings import *  # noqa: F403
from marketplace.services.technologists import *  # noqa: F403
from marketplace.services.tenancy import *  # noqa: F403
