"""French as written in Belgium: 3 décembre 2026, 14:05 (wescan.formats.dates), decimal comma,
a narrow no-break space between thousands."""

from wescan.formats.dates import *  # noqa: F403

DECIMAL_SEPARATOR = ","
THOUSAND_SEPARATOR = "\u202f"
