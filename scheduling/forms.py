"""Availability as a person types it: a start and an end in their own wall-clock time, once or
every chosen weekday until a date. The form builds the RFC 5545 RRULE the services store."""

from datetime import date, datetime, timedelta
from typing import Any

from django import forms
from django.utils.dateformat import format as date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from marketplace.forms import (
    CalendarDateField,
    DateInput,
    LocalDateTimeField,
    aware_in,
    local_naive,
)
from scheduling.models import AvailabilityWindow

WEEKDAYS = [
    ("MO", pgettext_lazy("weekday", "Mon")),
    ("TU", pgettext_lazy("weekday", "Tue")),
    ("WE", pgettext_lazy("weekday", "Wed")),
    ("TH", pgettext_lazy("weekday", "Thu")),
    ("FR", pgettext_lazy("weekday", "Fri")),
    ("SA", pgettext_lazy("weekday", "Sat")),
    ("SU", pgettext_lazy("weekday", "Sun")),
]
_WEEKDAY_CODES = [code for code, _label in WEEKDAYS]


def weekly_rule(weekdays: list[str], until: date | None) -> str:
    """FREQ=WEEKLY;BYDAY=MO,WE[;UNTIL=<the until day, 23:59:59 local>]."""
    days = sorted(set(weekdays), key=_WEEKDAY_CODES.index)
    parts = ["FREQ=WEEKLY", f"BYDAY={','.join(days)}"]
    if until is not None:
        parts.append(f"UNTIL={until:%Y%m%d}T235959")
    return ";".join(parts)


def parse_weekly_rule(rule: str) -> tuple[list[str], date | None] | None:
    """The weekdays and until-day of a rule `weekly_rule` could have built; None for any other
    rule (it is then shown and edited as a custom rule)."""
    try:
        parts = dict(part.split("=", 1) for part in rule.upper().strip().split(";") if part)
    except ValueError:
        return None
    if parts.get("FREQ") != "WEEKLY" or not set(parts) <= {"FREQ", "BYDAY", "UNTIL"}:
        return None
    days = parts.get("BYDAY", "").split(",")
    if not days or not set(days) <= set(_WEEKDAY_CODES):
        return None
    until = None
    if "UNTIL" in parts:
        try:
            until = datetime.strptime(parts["UNTIL"][:8], "%Y%m%d").date()
        except ValueError:
            return None
    return days, until


def describe_rule(rule: str) -> str:
    """A rule in words, in the active language: "Every Mon, Wed until 31 Jan 2027"."""
    if not rule:
        return _("Once")
    weekly = parse_weekly_rule(rule)
    if weekly is None:
        # FREQ=DAILY (with or without UNTIL) reads as every weekday of a weekly rule.
        every_day = "FREQ=WEEKLY;BYDAY=" + ",".join(_WEEKDAY_CODES)
        daily = parse_weekly_rule(rule.upper().replace("FREQ=DAILY", every_day))
        if daily is not None and "BYDAY" not in rule.upper():
            until = daily[1]
            if until:
                return _("Every day until %(day)s") % {"day": date_format(until, "j M Y")}
            return _("Every day")
        return _("Repeats: %(rule)s") % {"rule": rule}
    days, until = weekly
    labels = dict(WEEKDAYS)
    names = ", ".join(str(labels[day]) for day in sorted(days, key=_WEEKDAY_CODES.index))
    if until:
        return _("Every %(days)s until %(day)s") % {
            "days": names,
            "day": date_format(until, "j M Y"),
        }
    return _("Every %(days)s") % {"days": names}


REPEAT_FIELDS = ["repeat", "weekdays", "until", "rrule"]


class RepeatForm(forms.Form):
    """How a window repeats: once, every week on some weekdays (until a day, or for ever), or by
    a custom RFC 5545 RRULE. Availability and on-call windows ask the same."""

    ONCE, WEEKLY, CUSTOM = "once", "weekly", "custom"

    repeat = forms.ChoiceField(
        choices=[
            (ONCE, gettext_lazy("Once")),
            (WEEKLY, gettext_lazy("Every week on the days below")),
            (CUSTOM, gettext_lazy("Custom rule (RFC 5545 RRULE)")),
        ],
        initial=ONCE,
        widget=forms.RadioSelect,
        label=gettext_lazy("Repeat"),
    )
    weekdays = forms.MultipleChoiceField(
        choices=WEEKDAYS,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label=gettext_lazy("Weekdays"),
    )
    until = CalendarDateField(
        required=False,
        widget=DateInput,
        label=gettext_lazy("Repeat until"),
        help_text=gettext_lazy("The last day, included. Empty: no end."),
    )
    rrule = forms.CharField(
        max_length=500,
        required=False,
        label=gettext_lazy("Custom rule"),
        help_text=gettext_lazy("Only for a custom rule, e.g. FREQ=MONTHLY;BYDAY=1MO."),
    )


class AvailabilityForm(RepeatForm):
    """Start and end are wall-clock times in `time_zone`; a weekly window starts on the first
    chosen weekday on or after the start date."""

    starts_at = LocalDateTimeField(label=gettext_lazy("Starts"))
    ends_at = LocalDateTimeField(label=gettext_lazy("Ends"))
    field_order = ["starts_at", "ends_at", *REPEAT_FIELDS]

    def __init__(self, *args: Any, time_zone: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.time_zone = time_zone
        for name in ("starts_at", "ends_at"):
            self.fields[name].help_text = _("Local time in %(zone)s.") % {"zone": time_zone}

    @classmethod
    def initial_for(cls, window: AvailabilityWindow) -> dict[str, Any]:
        zone = window.time_zone
        initial: dict[str, Any] = {
            "starts_at": local_naive(window.starts_at, zone),
            "ends_at": local_naive(window.ends_at, zone),
            "repeat": cls.ONCE,
        }
        if window.rrule:
            weekly = parse_weekly_rule(window.rrule)
            if weekly is None:
                initial.update(repeat=cls.CUSTOM, rrule=window.rrule)
            else:
                initial.update(repeat=cls.WEEKLY, weekdays=weekly[0], until=weekly[1])
        return initial

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        starts, ends = data.get("starts_at"), data.get("ends_at")
        repeat = data.get("repeat")
        rule = ""
        if repeat == self.WEEKLY:
            weekdays = data.get("weekdays") or []
            until = data.get("until")
            if not weekdays:
                self.add_error("weekdays", _("Pick the weekdays it repeats on."))
            elif starts is not None and ends is not None:
                # The first occurrence is the first chosen weekday on or after the start.
                shift = next(
                    days
                    for days in range(7)
                    if _WEEKDAY_CODES[(starts + timedelta(days=days)).weekday()] in weekdays
                )
                starts, ends = starts + timedelta(days=shift), ends + timedelta(days=shift)
                if until is not None and until < starts.date():
                    self.add_error("until", _("Choose a day on or after the first one."))
                rule = weekly_rule(weekdays, until)
        elif repeat == self.CUSTOM:
            rule = (data.get("rrule") or "").strip()
            if not rule:
                self.add_error("rrule", _("Type the rule, or choose Once or Every week."))
        for name, value in (("starts_at", starts), ("ends_at", ends)):
            if value is not None:
                try:
                    data[name] = aware_in(value, self.time_zone)
                except forms.ValidationError as error:
                    self.add_error(name, error)
        data["rule"] = rule
        return data

    def service_arguments(self) -> dict[str, Any]:
        return {
            "starts_at": self.cleaned_data["starts_at"],
            "ends_at": self.cleaned_data["ends_at"],
            "time_zone": self.time_zone,
            "rrule": self.cleaned_data["rule"],
        }


class SkipOccurrenceForm(forms.Form):
    """The local start (in the window's own time zone) of the occurrence that does not happen."""

    local_start = LocalDateTimeField(widget=forms.HiddenInput)
