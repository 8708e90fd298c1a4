"""Demo data for a first look: three hospitals in two time zones, their sites and scanners,
managers, local staff and technologists. Safe to run again: it neither fails nor duplicates."""

from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from marketplace.models import (
    Hospital,
    Membership,
    Modality,
    Role,
    Scanner,
    Seniority,
    Site,
    TechnologistProfile,
    Vendor,
)

DEMO_PASSWORD = "wescan-demo"

HOSPITALS: list[dict[str, Any]] = [
    {
        "name": "Hôpital Sainte-Claire",
        "city": "Brussels",
        "country": "BE",
        "domain": "sainte-claire.demo",
        "sites": {
            "Campus Nord": (
                "Brussels",
                "Europe/Brussels",
                [
                    ("MR 1", Modality.MRI, Vendor.SIEMENS, "MAGNETOM Vida", "3.00", True),
                    ("MR 2", Modality.MRI, Vendor.GE, "SIGNA Artist", "1.50", True),
                    ("CT 1", Modality.CT, Vendor.SIEMENS, "SOMATOM go.Top", None, False),
                ],
            ),
            "Campus Sud": (
                "Uccle",
                "Europe/Brussels",
                [
                    ("MR Sud", Modality.MRI, Vendor.SIEMENS, "MAGNETOM Sola", "1.50", False),
                ],
            ),
        },
    },
    {
        "name": "Ziekenhuis Scheldeland",
        "city": "Antwerp",
        "country": "BE",
        "domain": "scheldeland.demo",
        "sites": {
            "Hoofdcampus": (
                "Antwerp",
                "Europe/Brussels",
                [
                    ("MRI A", Modality.MRI, Vendor.PHILIPS, "Ingenia 1.5T", "1.50", True),
                    ("MRI B", Modality.MRI, Vendor.PHILIPS, "Ingenia Elition X", "3.00", False),
                ],
            ),
        },
    },
    {
        "name": "Clínica Atlântico",
        "city": "Lisbon",
        "country": "PT",
        "domain": "atlantico.demo",
        "sites": {
            "Lisboa Centro": (
                "Lisbon",
                "Europe/Lisbon",
                [
                    ("RM 1", Modality.MRI, Vendor.CANON, "Vantage Orian", "1.50", True),
                    ("RM 2", Modality.MRI, Vendor.GE, "SIGNA Premier", "3.00", False),
                ],
            ),
        },
    },
]

# (first name, last name, seniority, years, hospital domain or None for an independent)
TECHNOLOGISTS = [
    ("Lotte", "Peeters", Seniority.SENIOR, 18, "sainte-claire.demo"),
    ("Karim", "Benali", Seniority.EXPERIENCED, 7, "sainte-claire.demo"),
    ("Julie", "Dubois", Seniority.JUNIOR, 1, "sainte-claire.demo"),
    ("Pieter", "Janssens", Seniority.SENIOR, 22, "scheldeland.demo"),
    ("Elif", "Yilmaz", Seniority.EXPERIENCED, 5, "scheldeland.demo"),
    ("Noor", "Maes", Seniority.JUNIOR, 2, "scheldeland.demo"),
    ("Inês", "Carvalho", Seniority.SENIOR, 15, "atlantico.demo"),
    ("Tiago", "Ferreira", Seniority.EXPERIENCED, 9, "atlantico.demo"),
    ("Marta", "Sousa", Seniority.JUNIOR, 1, "atlantico.demo"),
    ("Sofia", "Rossi", Seniority.SENIOR, 12, None),
    ("Lucas", "Martin", Seniority.EXPERIENCED, 6, None),
    ("Emma", "Smit", Seniority.JUNIOR, 2, None),
]


class Command(BaseCommand):
    help = "Load demo hospitals, scanners and people (idempotent). Prints the demo logins."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            logins = self._load()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready. Every demo login uses the password '{DEMO_PASSWORD}':"
            )
        )
        for role, email in logins:
            self.stdout.write(f"  {email:<40} {role}")

    def _user(self, email: str, first: str, last: str, **extra: Any) -> User:
        user, created = User.objects.get_or_create(
            email=email, defaults={"first_name": first, "last_name": last, **extra}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        from allauth.account.models import EmailAddress

        EmailAddress.objects.get_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        return user

    def _load(self) -> list[tuple[str, str]]:
        logins = [("platform admin", "admin@wescan.demo")]
        self._user("admin@wescan.demo", "Ada", "Admin", is_staff=True, is_superuser=True)
        hospitals: dict[str, Hospital] = {}
        for spec in HOSPITALS:
            hospital, _ = Hospital.objects.get_or_create(
                name=spec["name"], defaults={"city": spec["city"], "country": spec["country"]}
            )
            hospitals[spec["domain"]] = hospital
            for site_name, (city, tz, scanners) in spec["sites"].items():
                site, _ = Site.objects.get_or_create(
                    hospital=hospital, name=site_name, defaults={"city": city, "time_zone": tz}
                )
                for name, modality, vendor, model, tesla, ready in scanners:
                    Scanner.objects.get_or_create(
                        site=site,
                        name=name,
                        defaults={
                            "modality": modality,
                            "vendor": vendor,
                            "model_name": model,
                            "field_strength_tesla": Decimal(tesla) if tesla else None,
                            "cockpit_ready": ready,
                        },
                    )
            domain = spec["domain"]
            for role, local, first, last in [
                (Role.MANAGER, "manager", "Marie", f"Manager ({spec['city']})"),
                (Role.LOCAL_STAFF, "local", "Luc", f"Local ({spec['city']})"),
            ]:
                user = self._user(f"{local}@{domain}", first, last)
                Membership.objects.get_or_create(
                    user=user, hospital=hospital, defaults={"role": role}
                )
                logins.append((f"{role.label.lower()}, {hospital.name}", user.email))
        for first, last, seniority, years, domain in TECHNOLOGISTS:
            email = f"{first.lower()}.{last.lower()}@{domain or 'independent.demo'}"
            email = email.replace("ê", "e").replace("ô", "o")
            user = self._user(email, first, last)
            TechnologistProfile.objects.get_or_create(
                user=user, defaults={"seniority": seniority, "years_experience": years}
            )
            if domain:
                Membership.objects.get_or_create(
                    user=user, hospital=hospitals[domain], defaults={"role": Role.TECHNOLOGIST}
                )
            where = hospitals[domain].name if domain else "independent"
            logins.append((f"technologist ({seniority}), {where}", email))
        return logins
