"""The marketplace: Hospital → Site → Scanner and who belongs where (Membership, Invitation);
technologists (competencies, licence) and the session postings hospitals publish."""

import functools
import gettext as gettext_module
import zoneinfo
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.conf.locale import LANG_INFO
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import dateformat, timezone
from django.utils.functional import lazy
from django.utils.translation import get_language, gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

# Read once: available_timezones() scans the tz database on every call (~40 ms).
TIME_ZONE_NAMES = frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in TIME_ZONE_NAMES:
        raise ValidationError(
            gettext("%(value)s is not a time zone name such as 'Europe/Brussels'.")
            % {"value": repr(value)}
        )


class Hospital(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    city = models.CharField(_("city"), max_length=120, blank=True)
    country = models.CharField(
        _("country"), max_length=2, help_text=_("ISO 3166-1 alpha-2 code, e.g. BE.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("hospital")
        verbose_name_plural = _("hospitals")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Site(models.Model):
    """A place where scanners stand. Its time zone is the one the local staff live in."""

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="sites", verbose_name=_("hospital")
    )
    name = models.CharField(_("name"), max_length=200)
    city = models.CharField(_("city"), max_length=120, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, validators=[validate_time_zone])

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        ordering = ["hospital__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["hospital", "name"], name="site_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.hospital.name} — {self.name}"


class Modality(models.TextChoices):
    MRI = "MRI", _("MRI")
    CT = "CT", "CT"


class Vendor(models.TextChoices):
    SIEMENS = "siemens", "Siemens Healthineers"
    GE = "ge", "GE HealthCare"
    PHILIPS = "philips", "Philips"
    CANON = "canon", "Canon Medical"
    UNITED_IMAGING = "united_imaging", "United Imaging"
    FUJIFILM = "fujifilm", "Fujifilm (Hitachi)"
    OTHER = "other", _("Other")


class Scanner(models.Model):
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, related_name="scanners", verbose_name=_("site")
    )
    name = models.CharField(
        _("name"), max_length=100, help_text=_("What the staff call it, e.g. 'MR 2'.")
    )
    modality = models.CharField(
        _("modality"), max_length=8, choices=Modality.choices, default=Modality.MRI
    )
    vendor = models.CharField(_("vendor"), max_length=32, choices=Vendor.choices)
    model_name = models.CharField(_("model"), max_length=120)
    field_strength_tesla = models.DecimalField(
        _("field strength (T)"),
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.05")), MaxValueValidator(Decimal("11.7"))],
        help_text=_("Magnet field strength in tesla (MRI only)."),
    )
    cockpit_ready = models.BooleanField(
        _("cockpit-ready"),
        default=False,
        help_text=_("Its console can be operated remotely through the cockpit."),
    )
    # Only a SHA-256 of the device token is kept: a leaked database does not leak the tokens.
    device_token_hash = models.CharField(
        _("device token hash"), max_length=64, null=True, blank=True, unique=True
    )
    device_token_rotated_at = models.DateTimeField(
        _("device token rotated at"), null=True, blank=True
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("scanner")
        verbose_name_plural = _("scanners")
        ordering = ["site__hospital__name", "site__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="scanner_unique_name"),
            models.CheckConstraint(
                condition=models.Q(modality="CT") | models.Q(field_strength_tesla__isnull=False),
                name="scanner_mri_has_field_strength",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_vendor_display()} {self.model_name})"

    @property
    def has_device_token(self) -> bool:
        return bool(self.device_token_hash)


class Role(models.TextChoices):
    MANAGER = "manager", _("Manager")
    TECHNOLOGIST = "technologist", _("Technologist")
    LOCAL_STAFF = "local_staff", _("Local staff")


def role_in_sentence(role: str) -> str:
    """The role's name as it reads mid-sentence ("joined as technologist"), lazily: in the
    language the sentence is finally written in."""
    lower: str = lazy(lambda: str(Role(role).label).lower(), str)()
    return lower


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("hospital")
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["hospital__name", "role", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["user", "hospital"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return gettext("%(user)s — %(role)s at %(hospital)s") % {
            "user": self.user,
            "role": self.get_role_display(),
            "hospital": self.hospital,
        }


INVITATION_STATUS_LABELS = {
    "accepted": pgettext_lazy("invitation status", "accepted"),
    "revoked": pgettext_lazy("invitation status", "revoked"),
    "expired": pgettext_lazy("invitation status", "expired"),
    "pending": pgettext_lazy("invitation status", "pending"),
}


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def pending(self) -> "InvitationQuerySet":
        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )


class Invitation(models.Model):
    """A manager's invitation to join their hospital with a role. Usable once, until it expires.

    Only a hash of the token is stored; the token itself travels in the e-mailed link."""

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("hospital")
    )
    email = models.EmailField(_("e-mail address"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("invited by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("accepted by"),
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    email_sent_at = models.DateTimeField(_("email sent at"), null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]
        indexes = [models.Index(Lower("email"), name="invitation_email_lower")]

    def __str__(self) -> str:
        return gettext("%(email)s as %(role)s at %(hospital)s") % {
            "email": self.email,
            "role": self.get_role_display(),
            "hospital": self.hospital,
        }

    @property
    def status_label(self) -> str:
        """The status as a sentence says it ("expired", "verlopen", "expirée")."""
        return str(INVITATION_STATUS_LABELS[self.status])

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class Seniority(models.TextChoices):
    JUNIOR = "junior", _("Junior")
    EXPERIENCED = "experienced", _("Experienced")
    SENIOR = "senior", _("Senior")

    @classmethod
    def at_most(cls, level: str) -> list[str]:
        order = list(cls.values)
        return order[: order.index(level) + 1]


_lazy_gettext = lazy(gettext, str)


class ExamFamily(models.Model):
    """The managed vocabulary of exam families (neuro, MSK, cardiac, ...), kept by platform
    admins. Postings require some; technologists are competent in some."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=80, unique=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("exam family")
        verbose_name_plural = _("exam families")

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """The name in the active language: the seeded names are in the catalogues (marked in
        the seeding migration); one an admin added later shows as typed. `name` itself stays
        English (API, exports, ordering)."""
        return gettext(self.name)

    @property
    def lazy_label(self) -> str:
        """`label` in the language active when it is read: for lazy messages (notices) that each
        recipient reads in their own language."""
        return _lazy_gettext(self.name)


def short_language_name(name: str) -> str:
    """An ISO 639 name as WeScan lists it: its first form, without what is in brackets
    ("Tonga (Tonga Islands)": "Tonga"; "Catalan; Valencian": "Catalan")."""
    return name.split(";")[0].split(" (")[0]


@functools.cache
def iso_language_names(language: str) -> dict[str, str]:
    """Each ISO 639-1 code's language name in `language` (a code: nl, fr), where pycountry's
    catalogue of ISO 639-3 names translates it; empty for English, the names' own language."""
    import pycountry

    try:
        catalogue = gettext_module.translation(
            "iso639-3", pycountry.LOCALES_DIR, languages=[language]
        )
    except OSError:
        return {}
    names = {}
    for entry in pycountry.languages:
        code = getattr(entry, "alpha_2", None)
        translated = catalogue.gettext(entry.name)
        if code and translated != entry.name:
            # Translations list other forms after a comma too ("Oeigoers, Oejgoers").
            names[code] = short_language_name(translated).split(", ")[0]
    return names


class Language(models.Model):
    """An ISO 639-1 language, the vocabulary of spoken languages (seeded from pycountry)."""

    code = models.CharField(_("code"), max_length=2, primary_key=True)
    name = models.CharField(_("name"), max_length=80)

    class Meta:
        verbose_name = _("language")
        verbose_name_plural = _("languages")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.label} ({self.code})"

    @property
    def label(self) -> str:
        """The name in the active language: Django's own translation of the language's name where
        Django knows the code, else ISO 639's (pycountry's catalogues: Norwegian is "Noors" in
        Dutch), else the stored (English) name. In English, always the stored one."""
        info = LANG_INFO.get(self.code)
        if info and "name" in info:
            translated = gettext(info["name"])
            if translated != info["name"]:
                return translated
        active = (get_language() or settings.LANGUAGE_CODE).split("-")[0]
        if active == "en":
            return self.name
        return iso_language_names(active).get(self.code, self.name)


class TechnologistProfile(models.Model):
    """What a technologist brings: competencies, languages, seniority and a licence that a
    platform admin has verified. Without a verified, unexpired licence nobody books them."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="technologist_profile",
        verbose_name=_("user"),
    )
    seniority = models.CharField(_("seniority"), max_length=16, choices=Seniority.choices)
    years_experience = models.PositiveSmallIntegerField(
        _("years of experience"), default=0, validators=[MaxValueValidator(60)]
    )
    exam_families = models.ManyToManyField(
        ExamFamily, blank=True, related_name="technologists", verbose_name=_("exam families")
    )
    languages = models.ManyToManyField(
        Language, blank=True, related_name="technologists", verbose_name=_("languages")
    )
    home_time_zone = models.CharField(
        _("home time zone"),
        max_length=64,
        default="Europe/Brussels",
        validators=[validate_time_zone],
    )
    licence_number = models.CharField(_("licence number"), max_length=64, blank=True)
    licence_authority = models.CharField(
        _("licence authority"),
        max_length=120,
        blank=True,
        help_text=_("Who issued it, e.g. SPF Santé publique (BE)."),
    )
    licence_valid_until = models.DateField(_("licence valid until"), null=True, blank=True)
    licence_verified_at = models.DateTimeField(_("licence verified at"), null=True, blank=True)
    licence_verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("licence verified by"),
    )
    # The expiry date a 30-day warning was mailed for: the warning goes once per licence.
    licence_expiry_warned_for = models.DateField(
        _("licence expiry warned for"), null=True, blank=True
    )
    # The on-call switch: a senior who steps away turns it off, and no request for help reaches
    # them until they turn it on again, whatever their on-call windows say.
    on_call_paused = models.BooleanField(
        _("on call paused"),
        default=False,
        help_text=_("Not answering requests for help, whatever the on-call schedule."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("technologist profile")
        verbose_name_plural = _("technologist profiles")
        ordering = ["user__email"]
        indexes = [models.Index(fields=["licence_verified_at", "licence_valid_until"])]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_seniority_display()})"

    def ineligibility_reasons(self, today: date | None = None) -> list[str]:
        """Why this technologist cannot be booked today; empty when they can."""
        today = today or timezone.localdate()
        reasons = []
        if not self.licence_number:
            reasons.append(
                gettext("No licence on file: add your licence number and issuing authority.")
            )
        elif self.licence_verified_at is None:
            reasons.append(gettext("Your licence has not been verified by WeScan yet."))
        if self.licence_valid_until is None:
            if self.licence_number:
                reasons.append(gettext("Your licence has no expiry date on file."))
        elif self.licence_valid_until < today:
            reasons.append(
                gettext("Your licence expired on %(day)s.")
                % {"day": dateformat.format(self.licence_valid_until, "d F Y")}
            )
        return reasons

    @property
    def is_eligible(self) -> bool:
        return not self.ineligibility_reasons()


class VendorFamiliarity(models.Model):
    """A scanner vendor whose console a technologist knows."""

    profile = models.ForeignKey(
        TechnologistProfile,
        on_delete=models.CASCADE,
        related_name="vendor_familiarities",
        verbose_name=_("profile"),
    )
    vendor = models.CharField(_("vendor"), max_length=32, choices=Vendor.choices)

    class Meta:
        ordering = ["vendor"]
        verbose_name = _("vendor familiarity")
        verbose_name_plural = _("vendor familiarities")
        constraints = [
            models.UniqueConstraint(fields=["profile", "vendor"], name="vendor_familiarity_unique")
        ]

    def __str__(self) -> str:
        return self.get_vendor_display()


class Urgency(models.TextChoices):
    ROUTINE = "routine", _("Routine")
    PRIORITY = "priority", _("Priority")
    URGENT = "urgent", _("Urgent")


class Compensation(models.TextChoices):
    HOURLY_RATE = "hourly_rate", _("Hourly rate (EUR)")
    RECIPROCITY = "reciprocity", _("Reciprocity credits")


class PostingStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    OPEN = "open", pgettext_lazy("posting status", "Open")
    FILLED = "filled", _("Filled")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


class SessionPosting(models.Model):
    """A scanner session that needs a remote technologist. It describes the work, never the
    patient: notes are checked for anything that looks like a patient identifier."""

    MAX_DURATION = timedelta(hours=12)

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="postings", verbose_name=_("hospital")
    )
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, related_name="postings", verbose_name=_("site")
    )
    scanner = models.ForeignKey(
        Scanner, on_delete=models.PROTECT, related_name="postings", verbose_name=_("scanner")
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    required_exam_families = models.ManyToManyField(
        ExamFamily, blank=True, related_name="postings", verbose_name=_("required exam families")
    )
    languages = models.ManyToManyField(
        Language,
        blank=True,
        related_name="postings",
        help_text=_("The technologist must speak at least one of them (none: any language)."),
        verbose_name=_("languages"),
    )
    min_seniority = models.CharField(
        _("minimum seniority"), max_length=16, choices=Seniority.choices, default=Seniority.JUNIOR
    )
    vendor = models.CharField(
        _("vendor"), max_length=32, choices=Vendor.choices, help_text=_("Taken from the scanner.")
    )
    urgency = models.CharField(
        _("urgency"), max_length=16, choices=Urgency.choices, default=Urgency.ROUTINE
    )
    compensation = models.CharField(
        _("compensation"),
        max_length=16,
        choices=Compensation.choices,
        default=Compensation.RECIPROCITY,
    )
    hourly_rate_eur = models.DecimalField(
        _("hourly rate (EUR)"),
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    notes = models.TextField(
        _("notes"), blank=True, max_length=2000, help_text=_("About the work only.")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=PostingStatus.choices, default=PostingStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("session posting")
        verbose_name_plural = _("session postings")
        ordering = ["starts_at", "pk"]
        indexes = [
            models.Index(fields=["status", "starts_at"]),
            models.Index(fields=["hospital", "status", "starts_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="posting_ends_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(compensation="reciprocity", hourly_rate_eur__isnull=True)
                | models.Q(compensation="hourly_rate", hourly_rate_eur__isnull=False),
                name="posting_rate_matches_compensation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.hospital.name}, {self.scanner.name}, {self.starts_at:%Y-%m-%d %H:%M} UTC"

    # Lists, not related managers: rows from selectors carry them prefetched (a manager per row
    # per relation was most of the cost of serialising a page of postings).
    @property
    def family_list(self) -> list[ExamFamily]:
        cached = self.__dict__.get("prefetched_families")
        return cached if cached is not None else list(self.required_exam_families.all())

    @property
    def language_list(self) -> list[Language]:
        cached = self.__dict__.get("prefetched_languages")
        return cached if cached is not None else list(self.languages.all())

    @property
    def duration_hours(self) -> Decimal:
        seconds = Decimal((self.ends_at - self.starts_at).total_seconds())
        return (seconds / 3600).quantize(Decimal("0.01"))
