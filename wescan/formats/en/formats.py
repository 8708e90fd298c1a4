"""English as WeScan writes it: 3 December 2026, 14:05 (wescan.formats.dates), decimal point."""

from wescan.formats.dates import *  # noqa: F403

DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
