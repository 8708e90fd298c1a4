"""Dates and times in the sentences people read (notices, refusals, calendar entries): in the
reader's language, on the 24-hour clock, always with the zone named. Lazy, so a notice sent to
several people (`core.notify.notification_send`) is written in each one's own language."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import dateformat, formats
from django.utils.functional import Promise, lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

__all__ = ["date_text", "hours_text", "session_when", "span_text"]

# "Mon 30 Nov 08:00" in English, "ma 30 nov 08:00" in Dutch, "lun 30 nov 08:00" in French: a
# pattern of Django's `date` filter, each language its own (months in lower case in nl and fr).
DAY_AND_TIME = pgettext_lazy("date and time of a session, Django date format", "D d M H:i")


def _formatted(moment: date | datetime, pattern: str | Promise) -> str:
    return dateformat.format(moment, str(pattern))


date_text = lazy(_formatted, str)


def span_text(starts_at: datetime, ends_at: datetime, zone_name: str) -> Promise:
    """'Mon 30 Nov 08:00–12:00 (Europe/Brussels)', on the wall clock of `zone_name`."""
    zone = ZoneInfo(zone_name)
    return format_lazy(
        _("{start}–{end} ({zone})"),
        start=date_text(starts_at.astimezone(zone), DAY_AND_TIME),
        end=date_text(ends_at.astimezone(zone), "H:i"),
        zone=zone.key,
    )


def session_when(starts_at: datetime, ends_at: datetime, zone_name: str) -> Promise:
    """'on Mon 30 Nov 08:00–12:00 (Europe/Brussels)': when a session runs, in a sentence."""
    return format_lazy(_("on {span}"), span=span_text(starts_at, ends_at, zone_name))


def _hours(value: Decimal) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", str(formats.get_format("DECIMAL_SEPARATOR")))


# Hours in as few digits as they need: 3, 2.5, 0.07 (with the reader's decimal mark).
hours_text = lazy(_hours, str)
