"""The calendar WeScan works in. Dates far outside it (year 1, year 9999) are refused where
they enter, as a field error: further in, adding a day or a time zone to them overflows."""

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)


def validate_calendar_day(value: date | datetime) -> None:
    day = value.date() if isinstance(value, datetime) else value
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationError(
            _("Choose a date between %(first)s and %(last)s.")
            % {"first": FIRST_DAY.year, "last": LAST_DAY.year},
            code="out_of_range",
        )


def within_calendar(day: date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY
