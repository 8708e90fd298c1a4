"""Tenancy: Hospital → Site → Scanner, and who belongs where (Membership, Invitation)."""

import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a time zone name such as 'Europe/Brussels'.")


class Hospital(models.Model):
    name = models.CharField(max_length=200, unique=True)
    city = models.CharField(max_length=120, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code, e.g. BE.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Site(models.Model):
    """A place where scanners stand. Its time zone is the one the local staff live in."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(max_length=200)
    city = models.CharField(max_length=120, blank=True)
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])

    class Meta:
        ordering = ["hospital__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["hospital", "name"], name="site_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.hospital.name} — {self.name}"


class Modality(models.TextChoices):
    MRI = "MRI", "MRI"
    CT = "CT", "CT"


class Vendor(models.TextChoices):
    SIEMENS = "siemens", "Siemens Healthineers"
    GE = "ge", "GE HealthCare"
    PHILIPS = "philips", "Philips"
    CANON = "canon", "Canon Medical"
    UNITED_IMAGING = "united_imaging", "United Imaging"
    FUJIFILM = "fujifilm", "Fujifilm (Hitachi)"
    OTHER = "other", "Other"


class Scanner(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="scanners")
    name = models.CharField(max_length=100, help_text="What the staff call it, e.g. 'MR 2'.")
    modality = models.CharField(max_length=8, choices=Modality.choices, default=Modality.MRI)
    vendor = models.CharField(max_length=32, choices=Vendor.choices)
    model_name = models.CharField(max_length=120)
    field_strength_tesla = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.05")), MaxValueValidator(Decimal("11.7"))],
        help_text="Magnet field strength in tesla (MRI only).",
    )
    cockpit_ready = models.BooleanField(
        default=False, help_text="Its console can be operated remotely through the cockpit."
    )
    # Only a SHA-256 of the device token is kept: a leaked database does not leak the tokens.
    device_token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    device_token_rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
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
    MANAGER = "manager", "Manager"
    TECHNOLOGIST = "technologist", "Technologist"
    LOCAL_STAFF = "local_staff", "Local staff"


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["hospital__name", "role", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["user", "hospital"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.hospital}"


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def pending(self) -> "InvitationQuerySet":
        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )


class Invitation(models.Model):
    """A manager's invitation to join their hospital with a role. Usable once, until it expires.

    Only a hash of the token is stored; the token itself travels in the e-mailed link."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(Lower("email"), name="invitation_email_lower")]

    def __str__(self) -> str:
        return f"{self.email} as {self.get_role_display()} at {self.hospital}"

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
    JUNIOR = "junior", "Junior"
    EXPERIENCED = "experienced", "Experienced"
    SENIOR = "senior", "Senior"


class TechnologistProfile(models.Model):
    """What a technologist brings. Competencies, licence and availability join it later."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="technologist_profile"
    )
    seniority = models.CharField(max_length=16, choices=Seniority.choices)
    years_experience = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["user__email"]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_seniority_display()})"
