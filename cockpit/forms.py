"""The on-call page's forms: on call from now for a few hours, and a window on the schedule."""

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from marketplace.forms import TIME_ZONES, CalendarDateField, DateInput, aware_in
from scheduling.forms import REPEAT_FIELDS, WEEKDAYS, RepeatForm, weekly_rule

# "On call now" offers these lengths (hours); longer stretches go on the schedule.
ON_CALL_NOW_HOURS = (1, 2, 4, 8)
_WEEKDAY_CODES = [code for code, _label in WEEKDAYS]


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%H:%M")


class OnCallNowForm(forms.Form):
    """On call from now for a few hours (the button pressed), for some of one's exam families."""

    hours = forms.TypedChoiceField(
        choices=[
            (str(hours), format_lazy(_("{hours} h"), hours=hours)) for hours in ON_CALL_NOW_HOURS
        ],
        coerce=int,
        error_messages={
            "required": _("Choose for how long."),
            "invalid_choice": _("Choose 1, 2, 4 or 8 hours."),
        },
    )
    exam_families = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Only for"),
        help_text=_("None ticked: every exam family on your profile."),
    )

    def __init__(self, *args: Any, families: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["exam_families"].choices = families  # type: ignore[attr-defined]


class OnCallWindowForm(RepeatForm):
    """A window in a wall clock: a day, from and to (an end at or before the start is the next
    day), once or every chosen weekday; a weekly window starts on the first chosen weekday on
    or after the day."""

    day = CalendarDateField(widget=DateInput, label=_("Date"), help_text=_("The (first) day."))
    starts = forms.TimeField(widget=TimeInput, label=_("From"))
    ends = forms.TimeField(
        widget=TimeInput,
        label=_("To"),
        help_text=_("At or before the start: it ends the next day."),
    )
    field_order = ["day", "starts", "ends", *REPEAT_FIELDS, "exam_families", "time_zone"]
    exam_families = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Exam families"),
        help_text=_("None ticked: every exam family on your profile."),
    )
    time_zone = forms.ChoiceField(
        choices=[(zone, zone) for zone in TIME_ZONES],
        label=_("Time zone"),
        help_text=_(
            "The wall clock of the times above; a weekly window keeps its local time "
            "when the clocks change."
        ),
    )

    def __init__(self, *args: Any, families: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["exam_families"].choices = families  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        day, starts, ends = data.get("day"), data.get("starts"), data.get("ends")
        zone = data.get("time_zone")
        if day is None or starts is None or ends is None or not zone:
            return data
        first_start = datetime.combine(day, starts)
        first_end = datetime.combine(day, ends)
        if first_end <= first_start:
            first_end += timedelta(days=1)
        rule = ""
        repeat = data.get("repeat")
        if repeat == self.WEEKLY:
            weekdays = data.get("weekdays") or []
            until = data.get("until")
            if not weekdays:
                self.add_error("weekdays", _("Pick the weekdays it repeats on."))
            else:
                shift = next(
                    days
                    for days in range(7)
                    if _WEEKDAY_CODES[(day + timedelta(days=days)).weekday()] in weekdays
                )
                first_start += timedelta(days=shift)
                first_end += timedelta(days=shift)
                if until is not None and until < first_start.date():
                    self.add_error("until", _("Choose a day on or after the first one."))
                rule = weekly_rule(weekdays, until)
        elif repeat == self.CUSTOM:
            rule = (data.get("rrule") or "").strip()
            if not rule:
                self.add_error("rrule", _("Type the rule, or choose Once or Every week."))
        for name, value in (("starts", first_start), ("ends", first_end)):
            try:
                data[f"{name}_at"] = aware_in(value, zone)
            except forms.ValidationError as error:
                self.add_error(name, error)
        data["rule"] = rule
        return data

    def service_arguments(self) -> dict[str, Any]:
        return {
            "starts_at": self.cleaned_data["starts_at"],
            "ends_at": self.cleaned_data["ends_at"],
            "time_zone": self.cleaned_data["time_zone"],
            "rrule": self.cleaned_data["rule"],
            "exam_families": self.cleaned_data["exam_families"],
        }
