import unicodedata
import zoneinfo
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.db.models import Case, Count, IntegerField, QuerySet, When
from django.utils import dateformat
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.dates import validate_calendar_day
from core.identifiers import patient_identifier_message, patient_identifier_problems
from marketplace.models import (
    Compensation,
    ExamFamily,
    Hospital,
    Language,
    Modality,
    PostingStatus,
    Role,
    Scanner,
    Seniority,
    SessionPosting,
    Site,
    Urgency,
    Vendor,
)
from marketplace.services.postings import CANCEL_REASON_MAX

TIME_ZONES = sorted(zoneinfo.available_timezones())


# The hospital page holds three forms (invite, add a site, add a scanner): each has ids of its
# own (`auto_id`), so that no two fields share an id (both had `id_name`) and every label points
# at its own field. The field names, and so what is posted, stay the same.


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.TECHNOLOGIST)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "invite_%s")
        super().__init__(*args, **kwargs)


class SiteForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    city = forms.CharField(label=_("City"), max_length=120, required=False)
    time_zone = forms.ChoiceField(
        label=_("Time zone"), choices=[(tz, tz) for tz in TIME_ZONES], initial="Europe/Brussels"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "site_%s")
        super().__init__(*args, **kwargs)


class ScannerForm(forms.Form):
    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.none())
    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("What the staff call it, e.g. MR 2.")
    )
    modality = forms.ChoiceField(label=_("Modality"), choices=Modality.choices)
    vendor = forms.ChoiceField(label=_("Vendor"), choices=Vendor.choices)
    model_name = forms.CharField(max_length=120, label=_("Model"))
    field_strength_tesla = forms.DecimalField(
        max_digits=4, decimal_places=2, required=False, label=_("Field strength (T)")
    )
    cockpit_ready = forms.BooleanField(required=False, label=_("Cockpit-ready"))

    def __init__(self, *args: Any, hospital_id: int, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "scanner_%s")
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = Site.objects.filter(hospital_id=hospital_id)  # type: ignore[attr-defined]


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


# --- Local times ------------------------------------------------------------------------------


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


class CalendarDateField(forms.DateField):
    """A day within the calendar WeScan works in (see core.dates)."""

    default_validators = [validate_calendar_day]


class LocalDateTimeField(forms.DateTimeField):
    """A wall-clock time typed into a datetime-local input, kept naive: the form knows which time
    zone it belongs to (the site's, the viewer's) and makes it aware with `aware_in`."""

    widget = LocalDateTimeInput
    default_validators = [validate_calendar_day]

    def to_python(self, value: Any) -> datetime | None:
        if isinstance(value, datetime):
            return value.replace(tzinfo=None)
        if value in self.empty_values:
            return None
        try:
            return datetime.fromisoformat(str(value).strip()).replace(tzinfo=None)
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None

    def prepare_value(self, value: Any) -> Any:
        # An aware initial value is shown as it is: the form converted it to its zone already.
        return value


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def aware_in(local: datetime, time_zone: str) -> datetime:
    """A wall-clock time in `time_zone` as an aware datetime. A time the clocks skip (the spring
    change) is refused; in the autumn overlap the first (summer-time) reading is taken."""
    zone = ZoneInfo(time_zone)
    aware = local.replace(tzinfo=zone)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
        raise forms.ValidationError(
            gettext("%(time)s does not exist on %(day)s in %(zone)s: the clocks go forward then.")
            % {
                "time": dateformat.format(local, "H:i"),
                "day": dateformat.format(local, "d F Y"),
                "zone": time_zone,
            },
            code="nonexistent",
        )
    return aware


def local_naive(moment: datetime, time_zone: str) -> datetime:
    """What a wall clock in `time_zone` shows at `moment`, as a naive datetime for an input."""
    return moment.astimezone(ZoneInfo(time_zone)).replace(tzinfo=None)


def local_day_bounds(day: date, time_zone: str) -> datetime:
    """The aware start of a local day (midnight in `time_zone`)."""
    return datetime.combine(day, time.min).replace(tzinfo=ZoneInfo(time_zone))


def languages_first(chosen: Iterable[str]) -> QuerySet[Language]:
    """The long list of languages, the ones already chosen first, then those WeScan's people
    and postings use, then the rest by name."""
    return Language.objects.annotate(
        chosen=Case(When(code__in=list(chosen), then=1), default=0, output_field=IntegerField()),
        used=Count("technologists", distinct=True) + Count("postings", distinct=True),
    ).order_by("-chosen", "-used", "name")


def _collation_key(text: str) -> str:
    # "Égyptien" beside "Espagnol", not after "Zoulou".
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).casefold()


class _LanguageChoices(forms.models.ModelChoiceIterator):
    """The languages in the order `languages_first` gives (chosen, then used), and within each of
    those by the name the reader sees: SQL sorts by the stored English name, which in French put
    "Néerlandais" among the D's."""

    def __iter__(self) -> Iterator[Any]:
        rows = sorted(
            self.queryset,
            key=lambda language: (
                -getattr(language, "chosen", 0),
                -getattr(language, "used", 0),
                _collation_key(language.label),
            ),
        )
        for language in rows:
            yield self.choice(language)


def _order_languages(form: forms.Form) -> None:
    if form.is_bound:
        chosen = form.data.getlist("languages") if hasattr(form.data, "getlist") else []
    else:
        chosen = [getattr(value, "pk", value) for value in form.initial.get("languages", [])]
    # The iterator first: setting the queryset hands the widget its choices.
    form.fields["languages"].iterator = _LanguageChoices  # type: ignore[attr-defined]
    form.fields["languages"].queryset = languages_first(chosen)  # type: ignore[attr-defined]


def _checkboxes(queryset: Any, **kwargs: Any) -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        queryset=queryset, widget=forms.CheckboxSelectMultiple, required=False, **kwargs
    )


# --- Technologist profile -----------------------------------------------------------------------


class TechnologistProfileForm(forms.Form):
    seniority = forms.ChoiceField(label=_("Seniority"), choices=Seniority.choices)
    years_experience = forms.IntegerField(
        min_value=0, max_value=60, label=_("Years of experience"), initial=0
    )
    exam_families = _checkboxes(ExamFamily.objects.all(), label=_("Exam families I perform"))
    vendors = forms.MultipleChoiceField(
        choices=Vendor.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label=_("Scanner consoles I know"),
    )
    languages = _checkboxes(Language.objects.all(), label=_("Languages I speak"))
    home_time_zone = forms.ChoiceField(
        choices=[(tz, tz) for tz in TIME_ZONES],
        initial="Europe/Brussels",
        label=_("Home time zone"),
        help_text=_("Your availability is shown and typed in this time zone."),
    )
    licence_number = forms.CharField(label=_("Licence number"), max_length=64, required=False)
    licence_authority = forms.CharField(
        max_length=120,
        required=False,
        label=_("Issuing authority"),
        help_text=_("Who issued it, e.g. SPF Santé publique (BE)."),
    )
    licence_valid_until = CalendarDateField(
        required=False, label=_("Valid until"), widget=DateInput
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _order_languages(self)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("licence_number") and not data.get("licence_valid_until"):
            self.add_error(
                "licence_valid_until", gettext("Give the date your licence is valid until.")
            )
        if data.get("licence_number") and not data.get("licence_authority"):
            self.add_error("licence_authority", gettext("Say who issued your licence."))
        return data


# --- Postings -----------------------------------------------------------------------------------


class ScannerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} — {obj.site.name} ({obj.get_vendor_display()}, {obj.site.time_zone})"


class PostingForm(forms.Form):
    """A session posting as the manager types it: start and end in the wall-clock time of the
    chosen scanner's site."""

    scanner = ScannerChoiceField(label=_("Scanner"), queryset=Scanner.objects.none())
    starts_at = LocalDateTimeField(
        label=_("Starts"), help_text=_("Local time at the scanner's site.")
    )
    ends_at = LocalDateTimeField(label=_("Ends"), help_text=_("Local time at the scanner's site."))
    required_exam_families = _checkboxes(ExamFamily.objects.all(), label=_("Exam families"))
    languages = _checkboxes(
        Language.objects.all(),
        label=_("Languages"),
        help_text=_("The technologist must speak at least one of them (none: any language)."),
    )
    min_seniority = forms.ChoiceField(
        choices=Seniority.choices, initial=Seniority.JUNIOR, label=_("Minimum seniority")
    )
    urgency = forms.ChoiceField(
        label=_("Urgency"), choices=Urgency.choices, initial=Urgency.ROUTINE
    )
    compensation = forms.ChoiceField(
        label=_("Compensation"), choices=Compensation.choices, initial=Compensation.RECIPROCITY
    )
    hourly_rate_eur = forms.DecimalField(
        max_digits=7,
        decimal_places=2,
        required=False,
        label=_("Hourly rate (EUR)"),
        help_text=_("Only with an hourly rate."),
    )
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        required=False,
        label=_("Notes"),
        help_text=_("About the work only: never anything about the patient."),
    )

    def __init__(self, *args: Any, hospital: Hospital, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only scanners a remote technologist can operate through the cockpit.
        scanners = Scanner.objects.filter(
            site__hospital=hospital, cockpit_ready=True
        ).select_related("site")
        self.fields["scanner"].queryset = scanners  # type: ignore[attr-defined]
        if "scanner" not in self.initial and len(scanners[:2]) == 1:
            self.initial["scanner"] = scanners[0].pk  # the only one there is
        _order_languages(self)

    @classmethod
    def initial_for(cls, posting: SessionPosting) -> dict[str, Any]:
        zone = posting.site.time_zone
        return {
            "scanner": posting.scanner_id,
            "starts_at": local_naive(posting.starts_at, zone),
            "ends_at": local_naive(posting.ends_at, zone),
            "required_exam_families": list(posting.required_exam_families.all()),
            "languages": list(posting.languages.all()),
            "min_seniority": posting.min_seniority,
            "urgency": posting.urgency,
            "compensation": posting.compensation,
            "hourly_rate_eur": posting.hourly_rate_eur,
            "notes": posting.notes,
        }

    def clean_notes(self) -> str:
        # The service refuses these too; said here, it comes with the form's other errors.
        notes: str = self.cleaned_data["notes"]
        problems = patient_identifier_problems(notes)
        if problems:
            raise forms.ValidationError(patient_identifier_message(problems))
        return notes

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        scanner = data.get("scanner")
        if scanner is not None:
            for name in ("starts_at", "ends_at"):
                if data.get(name) is not None:
                    try:
                        data[name] = aware_in(data[name], scanner.site.time_zone)
                    except forms.ValidationError as error:
                        self.add_error(name, error)
        return data


class CancelPostingForm(forms.Form):
    reason = forms.CharField(
        max_length=CANCEL_REASON_MAX,
        required=False,
        label=_("Reason"),
        widget=forms.TextInput(attrs={"placeholder": _("e.g. scanner under maintenance")}),
        help_text=_("Optional; about the work only."),
    )


class _FilterForm(forms.Form):
    """A list's filters (GET). Empty fields filter nothing."""

    exam_family = forms.ModelChoiceField(
        queryset=ExamFamily.objects.all(),
        to_field_name="code",
        required=False,
        empty_label=_("Any exam family"),
        label=_("Exam family"),
    )
    urgency = forms.ChoiceField(
        choices=[("", _("Any urgency")), *Urgency.choices], required=False, label=_("Urgency")
    )
    starts_from = CalendarDateField(required=False, label=_("From"), widget=DateInput)
    starts_until = CalendarDateField(required=False, label=_("Until"), widget=DateInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("starts_from"), data.get("starts_until")
        if first and last and last < first:
            self.add_error("starts_until", gettext("Choose a day on or after the first one."))
        return data

    def _valid_filters(self) -> dict[str, Any]:
        # A filter typed wrong is reported and left out; the others still apply.
        if not self.is_bound:
            return {}
        self.is_valid()
        return self.cleaned_data

    def selector_filters(self, time_zone: str) -> dict[str, Any]:
        """The filters as selector arguments; the days are local days in `time_zone`."""
        data = self._valid_filters()
        family = data.get("exam_family")
        first, last = data.get("starts_from"), data.get("starts_until")
        return {
            "urgency": data.get("urgency") or None,
            "exam_family": family.code if family else None,
            "starts_after": local_day_bounds(first, time_zone) if first else None,
            "starts_before": (
                local_day_bounds(last + timedelta(days=1), time_zone) if last else None
            ),
        }


class OpenPostingFilterForm(_FilterForm):
    pass


class HospitalPostingFilterForm(_FilterForm):
    site = forms.ModelChoiceField(
        queryset=Site.objects.none(), required=False, empty_label=_("Any site"), label=_("Site")
    )
    status = forms.ChoiceField(
        choices=[("", _("Any status")), *PostingStatus.choices],
        required=False,
        label=_("Status"),
    )

    field_order = ["site", "status", "urgency", "exam_family", "starts_from", "starts_until"]

    def __init__(self, *args: Any, hospital: Hospital, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = Site.objects.filter(hospital=hospital)  # type: ignore[attr-defined]

    def selector_filters(self, time_zone: str) -> dict[str, Any]:
        data = self._valid_filters()
        site = data.get("site")
        # The days are the chosen site's days, or the hospital's when no site is chosen.
        filters = super().selector_filters(site.time_zone if site else time_zone)
        filters["site_id"] = site.pk if site else None
        filters["status"] = data.get("status") or None
        return filters
