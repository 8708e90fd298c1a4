"""Dutch as written in Belgium: 3 december 2026, 14:05 (wescan.formats.dates), decimal comma."""

from wescan.formats.dates import *  # noqa: F403

DECIMAL_SEPARATOR = ","
THOUSAND_SEPARATOR = "."
