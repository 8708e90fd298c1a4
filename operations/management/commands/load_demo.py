"""Demo data for a first look: three hospitals in two time zones, their sites and scanners,
managers, local staff and technologists with their competencies, licences and weekly
availability, and the hospitals' open postings for the next three weeks. Everything on the
marketplace side is made through the services, so the demo obeys the same rules as real use.
Dates are relative to today. Safe to run again: it neither fails nor duplicates."""

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext

from accounts.models import User
from cockpit.models import AssistRequest, AssistStage, CockpitSession
from cockpit.models import Role as CockpitRole
from cockpit.selectors import (
    assist_candidates,
    on_call_now,
    operating_now,
    scanner_open_booking,
)
from cockpit.services import cockpit_approve_join, cockpit_open
from core.errors import DomainError
from marketplace import services
from marketplace.models import (
    Compensation,
    ExamFamily,
    Hospital,
    Language,
    Membership,
    Modality,
    PostingStatus,
    Role,
    Scanner,
    Seniority,
    SessionPosting,
    Site,
    TechnologistProfile,
    Urgency,
    Vendor,
)
from operations.demo_history import demo_history_load
from scheduling import matching
from scheduling.models import (
    LIVE_STATUSES,
    AvailabilityWindow,
    Booking,
    BookingStatus,
    Initiator,
    OnCallWindow,
)
from scheduling.services import (
    availability_create,
    booking_accept,
    booking_invite,
    ledger_record_completed,
)
from scheduling.services.on_call import on_call_create

DEMO_PASSWORD = "wescan-demo"
# Every demo login has an authenticator app set up with this one public secret (base32), so
# that signing in asks for a code as it does for real accounts, and the demo still opens:
# managers, local staff and admins need a second factor before anything else, technologists
# before a cockpit. Add it once to an authenticator app (it serves every demo login), or run
# `manage.py demo_totp` for the code of the moment. Demo only: a real account's secret is made
# when its owner sets up their app.
DEMO_TOTP_SECRET = "WESCANDEMOWESCANDEMOWESCANDEMO23"

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
    # Seniors on call for the live cockpits (ON_CALL): each answers cockpits of other hospitals.
    ("Wim", "Claes", Seniority.SENIOR, 20, "scheldeland.demo"),
    ("Rita", "Lopes", Seniority.SENIOR, 16, "atlantico.demo"),
    ("Nathalie", "Lambert", Seniority.SENIOR, 19, "sainte-claire.demo"),
]


@dataclass(frozen=True)
class Competence:
    """A demo technologist's profile, licence and weekly availability."""

    exam_families: tuple[str, ...]
    vendors: tuple[str, ...]
    languages: tuple[str, ...]
    home_time_zone: str
    licence_authority: str
    licence: str = "verified"  # verified | unverified | expiring (in 20 days) | expired
    # Weekly availability for the coming four weeks: (RRULE BYDAY, local start, local end).
    weekly: tuple[str, time, time] | None = None
    lent: bool = False  # published by their hospital's manager: the hospital lends them


BE = "SPF Santé publique / FOD Volksgezondheid (BE)"
PT = "ACSS — Administração Central do Sistema de Saúde (PT)"
COMPETENCES = {
    "Lotte": Competence(
        ("neuro", "cardiac", "msk", "spine"),
        ("siemens", "philips"),
        ("nl", "fr", "en"),
        "Europe/Brussels",
        BE,
        weekly=("MO,TU,WE,TH,FR", time(7), time(21)),
    ),
    "Karim": Competence(
        ("msk", "abdominal", "spine", "neuro"),
        ("siemens", "ge"),
        ("fr", "en", "ar"),
        "Europe/Brussels",
        BE,
        weekly=("MO,TU,WE,TH,FR,SA", time(7), time(22)),
        lent=True,
    ),
    "Julie": Competence(
        ("msk", "neuro"),
        ("siemens",),
        ("fr", "en"),
        "Europe/Brussels",
        BE,
        licence="unverified",
        weekly=("MO,TU,WE,TH,FR", time(13), time(20)),
    ),
    "Pieter": Competence(
        ("neuro", "cardiac", "angiography", "head-neck"),
        ("philips", "siemens"),
        ("nl", "en", "de"),
        "Europe/Brussels",
        BE,
        weekly=("MO,TU,WE,TH,FR", time(7), time(21)),
    ),
    "Elif": Competence(
        ("abdominal", "pelvis-prostate", "breast", "msk"),
        ("philips", "ge"),
        ("nl", "en", "tr"),
        "Europe/Brussels",
        BE,
        licence="expiring",
        weekly=("WE,TH,FR", time(12), time(20)),
    ),
    "Noor": Competence(
        ("msk", "spine"),
        ("philips",),
        ("nl", "en"),
        "Europe/Brussels",
        BE,
        weekly=("MO,TU,WE,TH,FR,SA,SU", time(7), time(22)),
        lent=True,
    ),
    "Inês": Competence(
        ("neuro", "paediatric", "cardiac", "msk"),
        ("canon", "ge"),
        ("pt", "es", "en"),
        "Europe/Lisbon",
        PT,
        weekly=("MO,TU,WE,TH,FR,SA", time(8), time(23)),
    ),
    "Tiago": Competence(
        ("msk", "abdominal", "pelvis-prostate", "spine"),
        ("canon", "siemens"),
        ("pt", "en"),
        "Europe/Lisbon",
        PT,
        weekly=("MO,TU,WE,TH,FR,SA,SU", time(8), time(23)),
        lent=True,
    ),
    "Marta": Competence(
        ("msk", "neuro"),
        ("canon",),
        ("pt", "en"),
        "Europe/Lisbon",
        PT,
        licence="unverified",
    ),
    "Sofia": Competence(
        ("neuro", "breast", "whole-body", "paediatric"),
        ("siemens", "ge", "philips"),
        ("it", "en", "fr"),
        "Europe/Rome",
        "Ministero della Salute (IT)",
        weekly=("MO,TU,WE,TH,FR,SA,SU", time(7), time(22)),
    ),
    "Lucas": Competence(
        ("cardiac", "angiography", "neuro", "msk"),
        ("ge", "siemens"),
        ("fr", "en", "de"),
        "Europe/Paris",
        "ARS Île-de-France (FR)",
        licence="expired",
    ),
    "Emma": Competence(
        ("msk", "spine", "neuro"),
        ("philips", "siemens"),
        ("nl", "en", "de"),
        "Europe/Amsterdam",
        "CIBG BIG-register (NL)",
        weekly=("TU,WE,TH", time(7), time(15)),
    ),
    "Wim": Competence(
        ("neuro", "msk", "spine", "head-neck"),
        ("siemens", "ge", "philips", "canon"),
        ("nl", "en", "fr"),
        "Europe/Brussels",
        BE,
        weekly=("MO,TU,WE,TH,FR", time(8), time(17)),
    ),
    "Rita": Competence(
        ("cardiac", "neuro", "msk", "breast"),
        ("philips", "canon", "ge"),
        ("pt", "en", "es"),
        "Europe/Lisbon",
        PT,
        weekly=("MO,WE,FR", time(9), time(18)),
    ),
    "Nathalie": Competence(
        ("spine", "cardiac", "msk", "abdominal"),
        ("philips", "canon", "siemens"),
        ("fr", "en", "nl"),
        "Europe/Brussels",
        BE,
        weekly=("TU,TH", time(8), time(18)),
    ),
}

# The work a posting describes: required exam families, minimum seniority, notes. The notes say
# what the session involves, never who is scanned.
WORK: dict[str, tuple[tuple[str, ...], str, str]] = {
    "neuro": (
        ("neuro",),
        Seniority.JUNIOR,
        "Outpatient brain list with and without contrast; the local radiographer cannulates "
        "and injects.",
    ),
    "msk": (
        ("msk",),
        Seniority.JUNIOR,
        "Knee, shoulder and ankle list on standard protocols; coils prepared by local staff.",
    ),
    "spine": (("spine",), Seniority.JUNIOR, "Lumbar and cervical spine follow-ups, no contrast."),
    "neuro-msk": (
        ("neuro", "msk"),
        Seniority.JUNIOR,
        "Mixed evening list: brain and joint exams, standard protocols.",
    ),
    "cardiac": (
        ("cardiac",),
        Seniority.EXPERIENCED,
        "Cardiac function and late enhancement; stress agent given by the cardiologist on site.",
    ),
    "prostate": (
        ("pelvis-prostate",),
        Seniority.EXPERIENCED,
        "Multiparametric prostate list; antispasmodic given locally before each exam.",
    ),
    "abdomen": (
        ("abdominal",),
        Seniority.EXPERIENCED,
        "Liver and pancreas list with MRCP; long breath-hold series, coach the breathing.",
    ),
    "breast": (
        ("breast",),
        Seniority.EXPERIENCED,
        "Breast list with dynamic contrast; prone positioning done by local staff.",
    ),
    "angio": (
        ("angiography",),
        Seniority.EXPERIENCED,
        "Intracranial and carotid angiography: time-of-flight and contrast-enhanced runs.",
    ),
    "paeds": (
        ("paediatric", "neuro"),
        Seniority.SENIOR,
        "Paediatric neuro list under sedation with the anaesthesia team on site; the local "
        "language is needed to talk to the families.",
    ),
    "head-neck": (
        ("head-neck",),
        Seniority.SENIOR,
        "Head and neck oncology list: skull base to thoracic inlet, with contrast.",
    ),
    "whole-body": (
        ("whole-body",),
        Seniority.SENIOR,
        "Whole-body oncology staging with diffusion; several table moves per exam.",
    ),
}

# Open postings on the cockpit-ready scanners over the next three weeks, in the site's local
# time: (hospital domain, scanner, days ahead, local start, hours, work, urgency, languages asked
# (any one of them), hourly rate in EUR or None for reciprocity credits).
U, P, R = Urgency.URGENT, Urgency.PRIORITY, Urgency.ROUTINE
PostingSpec = tuple[str, str, int, time, int, str, str, tuple[str, ...], str | None]
POSTINGS: list[PostingSpec] = [
    ("sainte-claire.demo", "MR 1", 1, time(7, 30), 4, "neuro", U, (), None),
    ("sainte-claire.demo", "MR 1", 2, time(13), 4, "cardiac", P, ("fr", "nl"), None),
    ("sainte-claire.demo", "MR 1", 3, time(18), 3, "msk", R, (), None),
    ("sainte-claire.demo", "MR 1", 5, time(8), 5, "prostate", R, (), None),
    ("sainte-claire.demo", "MR 1", 7, time(13), 4, "neuro-msk", R, (), "55.00"),
    ("sainte-claire.demo", "MR 1", 9, time(8), 4, "angio", P, (), None),
    ("sainte-claire.demo", "MR 1", 12, time(18), 3, "spine", R, (), None),
    ("sainte-claire.demo", "MR 1", 15, time(8), 4, "whole-body", R, ("fr", "en"), None),
    ("sainte-claire.demo", "MR 1", 19, time(13), 4, "head-neck", R, (), None),
    ("sainte-claire.demo", "MR 2", 1, time(18), 3, "msk", U, (), None),
    ("sainte-claire.demo", "MR 2", 2, time(8), 4, "abdomen", R, (), None),
    ("sainte-claire.demo", "MR 2", 4, time(13), 5, "breast", P, ("fr",), None),
    ("sainte-claire.demo", "MR 2", 6, time(18), 3, "spine", R, (), "48.00"),
    ("sainte-claire.demo", "MR 2", 10, time(8), 4, "neuro", R, (), None),
    ("sainte-claire.demo", "MR 2", 13, time(13), 4, "paeds", R, ("fr", "nl"), None),
    ("sainte-claire.demo", "MR 2", 17, time(18), 3, "msk", R, (), None),
    ("scheldeland.demo", "MRI A", 1, time(8), 4, "cardiac", U, (), None),
    ("scheldeland.demo", "MRI A", 2, time(18), 3, "msk", P, ("nl", "en"), None),
    ("scheldeland.demo", "MRI A", 3, time(13), 4, "neuro", R, (), None),
    ("scheldeland.demo", "MRI A", 6, time(8), 4, "prostate", R, ("nl",), None),
    ("scheldeland.demo", "MRI A", 8, time(18), 3, "spine", R, (), None),
    ("scheldeland.demo", "MRI A", 11, time(13), 4, "paeds", R, ("nl",), None),
    ("scheldeland.demo", "MRI A", 14, time(8), 5, "abdomen", P, (), "52.00"),
    ("scheldeland.demo", "MRI A", 16, time(18), 3, "neuro-msk", R, (), None),
    ("scheldeland.demo", "MRI A", 20, time(8), 4, "angio", R, (), None),
    ("atlantico.demo", "RM 1", 1, time(14), 4, "neuro", U, ("pt", "en"), None),
    ("atlantico.demo", "RM 1", 2, time(9), 4, "msk", R, (), None),
    ("atlantico.demo", "RM 1", 3, time(19), 3, "spine", P, (), None),
    ("atlantico.demo", "RM 1", 5, time(9), 4, "cardiac", R, ("pt",), None),
    ("atlantico.demo", "RM 1", 8, time(14), 4, "paeds", P, ("pt", "es"), None),
    ("atlantico.demo", "RM 1", 10, time(9), 5, "abdomen", R, ("pt", "en"), "45.00"),
    ("atlantico.demo", "RM 1", 12, time(19), 3, "msk", R, (), None),
    ("atlantico.demo", "RM 1", 15, time(9), 4, "prostate", R, (), None),
    ("atlantico.demo", "RM 1", 18, time(14), 4, "breast", R, ("pt", "en"), None),
    ("atlantico.demo", "RM 1", 20, time(19), 3, "neuro", R, (), None),
]
# Drafts a manager is still preparing.
DRAFTS: list[PostingSpec] = [
    ("sainte-claire.demo", "MR 1", 21, time(8), 4, "whole-body", R, (), None),
    ("scheldeland.demo", "MRI A", 18, time(13), 4, "cardiac", P, ("nl",), None),
    ("atlantico.demo", "RM 1", 21, time(9), 4, "msk", R, ("pt",), None),
]
AVAILABILITY_WEEKS = 4
WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def environment_language() -> str:
    """The language the environment asks for (LANGUAGE, LC_ALL, LC_MESSAGES, LANG, as gettext
    reads them: 'nl_BE.UTF-8' is Dutch) when WeScan speaks it, else English."""
    spoken = {code for code, _name in settings.LANGUAGES}
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for wanted in os.environ.get(variable, "").split(":"):
            code = wanted.split(".")[0].split("@")[0].split("_")[0].lower()
            if code in spoken:
                return code
    return "en"


def _technologist_role(seniority: str, licence: str, where: str) -> str:
    """'technologist (senior, licence expiring soon), Hôpital Sainte-Claire'."""
    values = {"seniority": str(Seniority(seniority).label).lower(), "where": where}
    if licence == "expiring":
        return gettext("technologist (%(seniority)s, licence expiring soon), %(where)s") % values
    if licence == "unverified":
        return gettext("technologist (%(seniority)s, licence not verified yet), %(where)s") % values
    if licence == "expired":
        return gettext("technologist (%(seniority)s, licence expired), %(where)s") % values
    return gettext("technologist (%(seniority)s), %(where)s") % values


class Command(BaseCommand):
    help = (
        "Load demo hospitals, scanners, people, technologist profiles, availability and open "
        "postings (idempotent). Prints the demo logins."
    )
    _password_hash: str | None = None

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            help="The language of the printed guide (en, nl, fr). Default: the environment's "
            "(LANGUAGE, LC_ALL, LC_MESSAGES, LANG), else English.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with translation.override(options.get("language") or environment_language()):
            self._handle()

    def _handle(self) -> None:
        with transaction.atomic():
            logins, summary = self._load()
        self.stdout.write(
            self.style.SUCCESS(
                gettext("Demo data ready. Every demo login uses the password '%(password)s':")
                % {"password": DEMO_PASSWORD}
            )
        )
        for role, email in logins:
            self.stdout.write(f"  {email:<40} {role}")
        self.stdout.write(
            gettext(
                "Each then asks for a second factor: the code of an authenticator app holding "
                "the demo secret %(secret)s\n(add it once, for every demo login), or print the "
                "code of the moment with `.venv/bin/python manage.py demo_totp`."
            )
            % {"secret": DEMO_TOTP_SECRET}
        )
        self.stdout.write(summary)

    def _user(self, email: str, first: str, last: str, **extra: Any) -> User:
        user, created = User.objects.get_or_create(
            email=email, defaults={"first_name": first, "last_name": last, **extra}
        )
        if created:
            # One hash of the public demo password for every demo login: hashing it anew for each
            # of the two dozen users was half the loader's time on the first `make run`.
            if self._password_hash is None:
                self._password_hash = make_password(DEMO_PASSWORD)
            user.password = self._password_hash
            user.save(update_fields=["password"])
        from allauth.account.models import EmailAddress

        EmailAddress.objects.get_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
            TOTP.activate(user, DEMO_TOTP_SECRET)
        return user

    def _load(self) -> tuple[list[tuple[str, str]], str]:
        logins = [(gettext("platform admin"), "admin@wescan.demo")]
        admin = self._user("admin@wescan.demo", "Ada", "Admin", is_staff=True, is_superuser=True)
        hospitals: dict[str, Hospital] = {}
        managers: dict[str, User] = {}
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
                if role == Role.MANAGER:
                    managers[domain] = user
                logins.append(
                    (
                        gettext("%(role)s, %(hospital)s")
                        % {"role": str(role.label).lower(), "hospital": hospital.name},
                        user.email,
                    )
                )
        windows = 0
        for serial, (first, last, seniority, years, domain) in enumerate(TECHNOLOGISTS, 10301):
            email = f"{first.lower()}.{last.lower()}@{domain or 'independent.demo'}"
            email = email.replace("ê", "e").replace("ô", "o")
            user = self._user(email, first, last)
            if domain:
                Membership.objects.get_or_create(
                    user=user, hospital=hospitals[domain], defaults={"role": Role.TECHNOLOGIST}
                )
            competence = COMPETENCES[first]
            self._profile(admin, user, seniority, years, competence, serial=serial)
            lender = managers[domain] if domain and competence.lent else None
            windows += self._availability(user, competence, publisher=lender)
            where = hospitals[domain].name if domain else gettext("independent")
            logins.append((_technologist_role(seniority, competence.licence, where), email))
        published = self._postings(hospitals, managers, POSTINGS, publish=True)
        drafted = self._postings(hospitals, managers, DRAFTS, publish=False)
        invited, confirmed = self._bookings(hospitals, managers)
        worked = self._history(hospitals, managers)
        history = demo_history_load(hospitals=hospitals)
        live = self._live_cockpits(hospitals, managers)
        on_call = self._on_call(managers)
        open_now = SessionPosting.objects.filter(
            status=PostingStatus.OPEN, starts_at__gt=timezone.now()
        ).count()
        summary = gettext(
            "Marketplace: %(open_now)s open postings. Added now: %(published)s open postings, "
            "%(drafted)s drafts, %(windows)s weekly availability windows, %(on_call)s on-call "
            "windows, %(invited)s invitations (%(confirmed)s accepted), %(worked)s completed "
            "sessions of the past weeks."
        ) % {
            "open_now": open_now,
            "published": published,
            "drafted": drafted,
            "windows": windows,
            "on_call": on_call,
            "invited": invited,
            "confirmed": confirmed,
            "worked": worked,
        }
        if history.postings:
            summary += f"\n{history}"
        if live:
            summary += "\n" + gettext(
                "Live cockpits now (`make run` starts a scanner agent for each):"
            )
            for scanner, operator, local, cockpit in live:
                summary += f"\n  {scanner:<34} " + gettext(
                    "operator %(operator)s, local staff %(local)s"
                ) % {"operator": operator, "local": local}
                answering = self._who_answers(cockpit)  # once the on-call windows exist
                if answering:
                    summary += f"\n  {'':<34} " + gettext("Ask for help reaches: %(seniors)s") % {
                        "seniors": ", ".join(answering)
                    }
        seniors = self._seniors_on_call_now()
        if seniors:
            summary += "\n" + gettext(
                "Seniors on call now (a request for help from a live cockpit reaches them):"
            )
            for email, families in seniors:
                summary += f"\n  {email:<40} {families}"
        return logins, summary

    def _profile(
        self,
        admin: User,
        user: User,
        seniority: str,
        years: int,
        competence: Competence,
        *,
        serial: int,
    ) -> None:
        """Fill in a profile once, through the services, as the technologist and an admin would.
        A profile with a licence on file is left as it is."""
        if TechnologistProfile.objects.filter(user=user).exclude(licence_number="").exists():
            return
        today = timezone.localdate()
        valid_until = today + timedelta(days=20 if competence.licence == "expiring" else 700)
        profile = services.technologist_profile_update(
            actor=user,
            user=user,
            seniority=seniority,
            years_experience=years,
            exam_families=ExamFamily.objects.filter(code__in=competence.exam_families),
            languages=Language.objects.filter(code__in=competence.languages),
            vendors=competence.vendors,
            home_time_zone=competence.home_time_zone,
            # e.g. BE-RT-10301: the country from the authority "... (BE)", then a serial.
            licence_number=f"{competence.licence_authority[-3:-1]}-RT-{serial}",
            licence_authority=competence.licence_authority,
            licence_valid_until=valid_until,
        )
        if competence.licence == "unverified":
            return
        services.technologist_licence_verify(actor=admin, profile=profile)
        if competence.licence == "expired":
            # Verified last year; the licence has run out since. Time passing is no service.
            TechnologistProfile.objects.filter(pk=profile.pk).update(
                licence_valid_until=today - timedelta(days=5),
                licence_verified_at=timezone.now() - timedelta(days=370),
            )

    def _availability(self, user: User, competence: Competence, *, publisher: User | None) -> int:
        """Weekly windows for the coming four weeks, unless the technologist still has some."""
        if competence.weekly is None:
            return 0
        now = timezone.now()
        current = AvailabilityWindow.objects.filter(technologist=user).filter(
            Q(last_ends_at__isnull=True) | Q(last_ends_at__gt=now)
        )
        if current.exists():
            return 0
        days, start, end = competence.weekly
        zone = ZoneInfo(competence.home_time_zone)
        weekdays = [WEEKDAYS.index(day) for day in days.split(",")]
        first = now.astimezone(zone).date() + timedelta(days=1)
        while first.weekday() not in weekdays:  # the first occurrence is one the rule yields
            first += timedelta(days=1)
        until = now.astimezone(zone).date() + timedelta(weeks=AVAILABILITY_WEEKS)
        availability_create(
            actor=publisher or user,
            technologist=user,
            starts_at=datetime.combine(first, start, tzinfo=zone),
            ends_at=datetime.combine(first, end, tzinfo=zone),
            time_zone=competence.home_time_zone,
            rrule=f"FREQ=WEEKLY;BYDAY={days};UNTIL={until:%Y%m%d}T235959",
        )
        return 1

    def _on_call(self, managers: dict[str, User]) -> int:
        """The on-call schedule (ON_CALL), through the service as the senior or, when lent, their
        hospital's manager would publish it. A technologist who still has on-call windows keeps
        them and gets no more."""
        now = timezone.now()
        made = 0
        for spec in ON_CALL:
            technologist = User.objects.get(email=spec.email)
            current = OnCallWindow.objects.filter(technologist=technologist).filter(
                Q(last_ends_at__isnull=True) | Q(last_ends_at__gt=now)
            )
            if current.exists():
                continue
            zone = ZoneInfo(technologist.technologist_profile.home_time_zone)
            today = now.astimezone(zone).date()
            until = today + timedelta(weeks=AVAILABILITY_WEEKS)
            if spec.weekly is None:
                # Every day, midnight to midnight, from yesterday (or the day before, when
                # yesterday's clocks changed: the first occurrence lasts 24 hours at most).
                first = today - timedelta(days=1)
                while self._day_length(first, zone) != timedelta(days=1):
                    first -= timedelta(days=1)
                starts_at = datetime.combine(first, time(0), tzinfo=zone)
                ends_at = datetime.combine(first + timedelta(days=1), time(0), tzinfo=zone)
                rrule = f"FREQ=DAILY;UNTIL={until:%Y%m%d}T235959"
            else:
                days, start, end = spec.weekly
                weekdays = [WEEKDAYS.index(day) for day in days.split(",")]
                first = today + timedelta(days=1)
                while first.weekday() not in weekdays:
                    first += timedelta(days=1)
                starts_at = datetime.combine(first, start, tzinfo=zone)
                ends_at = datetime.combine(first, end, tzinfo=zone)
                rrule = f"FREQ=WEEKLY;BYDAY={days};UNTIL={until:%Y%m%d}T235959"
            domain = spec.email.split("@")[1]
            on_call_create(
                actor=managers[domain] if spec.lent else technologist,
                technologist=technologist,
                starts_at=starts_at,
                ends_at=ends_at,
                time_zone=str(zone),
                rrule=rrule,
                exam_families=spec.exam_families,
            )
            made += 1
        return made

    @staticmethod
    def _day_length(day: date, zone: ZoneInfo) -> timedelta:
        start = datetime.combine(day, time(0), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        return end.astimezone(UTC) - start.astimezone(UTC)

    def _seniors_on_call_now(self) -> list[tuple[str, str]]:
        """Seniors whose on-call window is under way and who are not operating a cockpit
        themselves: (login, the exam families they answer for)."""
        now = timezone.now()
        busy = operating_now(now=now).values("technologist")
        seniors = (
            User.objects.filter(
                pk__in=on_call_now(now=now),
                technologist_profile__seniority=Seniority.SENIOR,
            )
            .exclude(pk__in=busy)
            .order_by("email")
        )
        listed = []
        for senior in seniors:
            families: set[str] = set()
            for window in OnCallWindow.objects.filter(technologist=senior):
                if window.covers(now):
                    codes = set(window.exam_families.values_list("name", flat=True))
                    families |= codes or set(
                        senior.technologist_profile.exam_families.values_list("name", flat=True)
                    )
            listed.append((senior.email, ", ".join(sorted(families))))
        return listed

    def _postings(
        self,
        hospitals: dict[str, Hospital],
        managers: dict[str, User],
        specs: list[PostingSpec],
        *,
        publish: bool,
    ) -> int:
        """The hospitals' postings, through the service as their manager. A hospital that still
        has upcoming postings of this kind (open or draft) keeps them and gets no more."""
        status = PostingStatus.OPEN if publish else PostingStatus.DRAFT
        now = timezone.now()
        created = 0
        for domain, hospital in hospitals.items():
            if SessionPosting.objects.filter(
                hospital=hospital, status=status, starts_at__gt=now
            ).exists():
                continue
            for spec in specs:
                spec_domain, scanner_name, days, start, hours, work, urgency, languages, rate = spec
                if spec_domain != domain:
                    continue
                scanner = Scanner.objects.select_related("site").get(
                    site__hospital=hospital, name=scanner_name
                )
                zone = ZoneInfo(scanner.site.time_zone)
                day = now.astimezone(zone).date() + timedelta(days=days)
                starts_at = datetime.combine(day, start, tzinfo=zone)
                families, min_seniority, notes = WORK[work]
                services.posting_create(
                    actor=managers[domain],
                    hospital=hospital,
                    scanner=scanner,
                    starts_at=starts_at,
                    ends_at=starts_at + timedelta(hours=hours),
                    required_exam_families=ExamFamily.objects.filter(code__in=families),
                    languages=Language.objects.filter(code__in=languages),
                    min_seniority=min_seniority,
                    urgency=urgency,
                    compensation=Compensation.HOURLY_RATE if rate else Compensation.RECIPROCITY,
                    hourly_rate_eur=Decimal(rate) if rate else None,
                    notes=notes,
                    publish=publish,
                )
                created += 1
        return created

    def _bookings(
        self, hospitals: dict[str, Hospital], managers: dict[str, User]
    ) -> tuple[int, int]:
        """Each hospital invites the top candidate of its first postings that have one, through
        the services as a manager would; every other invitation is accepted at once, the rest
        wait in the technologist's bookings. A hospital with upcoming live bookings gets none."""
        now = timezone.now()
        invited = confirmed = 0
        for domain, hospital in hospitals.items():
            if Booking.objects.filter(
                posting__hospital=hospital, status__in=LIVE_STATUSES, starts_at__gt=now
            ).exists():
                continue
            made = 0
            postings = SessionPosting.objects.filter(
                hospital=hospital, status=PostingStatus.OPEN, starts_at__gt=now + timedelta(days=1)
            ).order_by("starts_at", "pk")
            for posting in postings:
                candidates = matching.candidates_for(posting=posting, limit=1)
                if not candidates:
                    continue
                technologist = candidates[0].technologist
                booking = booking_invite(
                    actor=managers[domain], posting=posting, technologist=technologist
                )
                invited += 1
                if made % 2 == 0:
                    booking_accept(actor=technologist, booking=booking)
                    confirmed += 1
                made += 1
                if made == DEMO_INVITATIONS_PER_HOSPITAL:
                    break
        return invited, confirmed

    def _history(self, hospitals: dict[str, Hospital], managers: dict[str, User]) -> int:
        """Sessions worked in the past weeks, so that the ledger and the records of facts have
        something to show. The past cannot be booked through the services (they refuse a
        session that has started), so these are written as the cockpit would have left them,
        then credited through the ledger's own service. Only once."""
        if Booking.objects.filter(status=BookingStatus.COMPLETED).exists():
            return 0
        now = timezone.now()
        made = 0
        for receiver, technologist_email, weeks_ago, hours in DEMO_HISTORY:
            hospital = hospitals[receiver]
            technologist = User.objects.get(email=technologist_email)
            membership = technologist.memberships.filter(role=Role.TECHNOLOGIST).first()
            lender = membership.hospital if membership else None
            scanner = (
                Scanner.objects.select_related("site")
                .filter(site__hospital=hospital, cockpit_ready=True)
                .order_by("pk")
                .first()
            )
            if scanner is None:
                continue
            zone = ZoneInfo(scanner.site.time_zone)
            day = now.astimezone(zone).date() - timedelta(weeks=weeks_ago)
            starts_at = datetime.combine(day, time(9), tzinfo=zone)
            ends_at = starts_at + timedelta(hours=hours)
            posting = SessionPosting.objects.create(
                hospital=hospital,
                site=scanner.site,
                scanner=scanner,
                starts_at=starts_at,
                ends_at=ends_at,
                min_seniority=Seniority.JUNIOR,
                vendor=scanner.vendor,
                urgency=Urgency.ROUTINE,
                compensation=Compensation.RECIPROCITY,
                status=PostingStatus.FILLED,
                created_by=managers[receiver],
                published_at=starts_at - timedelta(days=5),
                closed_at=ends_at,
            )
            booking = Booking.objects.create(
                posting=posting,
                technologist=technologist,
                status=BookingStatus.COMPLETED,
                initiated_by=Initiator.HOSPITAL,
                starts_at=starts_at,
                ends_at=ends_at,
                hours=Decimal(hours),
                lending_hospital=lender,
                confirmed_at=starts_at - timedelta(days=3),
                started_at=starts_at + timedelta(minutes=4),
                completed_at=ends_at - timedelta(minutes=10),
                closed_at=ends_at - timedelta(minutes=10),
            )
            ledger_record_completed(booking=booking)
            made += 1
        return made

    def _live_cockpits(
        self, hospitals: dict[str, Hospital], managers: dict[str, User]
    ) -> list[tuple[str, str, str, CockpitSession]]:
        """On each cockpit-ready scanner, a session that starts in five minutes, booked through
        the services with a technologist from elsewhere (available for it), its cockpit open and
        the operator's join pre-approved by the local staff: a new user signs in and finds a live
        console at once. A scanner that already has an open session keeps it."""
        live = []
        for domain, scanner_name, work, email in DEMO_LIVE:
            hospital = hospitals[domain]
            scanner = Scanner.objects.select_related("site").get(
                site__hospital=hospital, name=scanner_name
            )
            local = User.objects.get(email=f"local@{domain}")
            booking = scanner_open_booking(scanner=scanner)
            if booking is None:
                lender = managers.get(email.split("@")[1])  # their hospital's, if they have one
                booking = self._book_now(managers[domain], scanner, work, email, lender=lender)
            if booking is None:
                continue
            cockpit = cockpit_open(booking=booking)
            if not cockpit.join_approved:
                cockpit_approve_join(actor=local, cockpit=cockpit)
            live.append(
                (
                    f"{scanner.name}, {hospital.name}",
                    booking.technologist.email,
                    local.email,
                    cockpit,
                )
            )
        return live

    def _who_answers(self, cockpit: CockpitSession) -> list[str]:
        """Who a request for help from this cockpit's operator would reach first: the on-call
        seniors who qualify for the session's first exam family, now."""
        booking = cockpit.booking
        family = booking.posting.required_exam_families.order_by("position").first()
        if family is None:
            return []
        probe = AssistRequest(
            cockpit=cockpit,
            requested_by=booking.technologist,
            requester_role=CockpitRole.OPERATOR,
            exam_family=family,
            vendor=booking.posting.scanner.vendor,
        )
        seniors = assist_candidates(assist=probe, stage=AssistStage.SENIORS)
        return [f"{email} ({family.label})" for email in seniors.values_list("email", flat=True)]

    def _book_now(
        self, manager: User, scanner: Scanner, work: str, email: str, *, lender: User | None
    ) -> Booking | None:
        """Booked through the services as on any day: the technologist's availability for it is
        published by their hospital's manager (`lender`), who lends them, so the booking carries
        the lending hospital (the reciprocity ledger credits it, not the person); published by
        themselves only when they belong to no hospital."""
        technologist = User.objects.get(email=email)
        starts_at = (timezone.now() + timedelta(minutes=5)).replace(second=0, microsecond=0)
        ends_at = starts_at + timedelta(hours=3)
        families, min_seniority, notes = WORK[work]
        try:
            with transaction.atomic():
                availability_create(
                    actor=lender or technologist,
                    technologist=technologist,
                    starts_at=starts_at - timedelta(minutes=30),
                    ends_at=ends_at + timedelta(minutes=30),
                )
                posting = services.posting_create(
                    actor=manager,
                    hospital=scanner.site.hospital,
                    scanner=scanner,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    required_exam_families=ExamFamily.objects.filter(code__in=families),
                    min_seniority=min_seniority,
                    urgency=Urgency.PRIORITY,
                    notes=notes,
                    publish=True,
                )
                booking = booking_invite(actor=manager, posting=posting, technologist=technologist)
                return booking_accept(actor=technologist, booking=booking)
        except DomainError as error:
            self.stderr.write(f"No live cockpit on {scanner.name}: {error.message}")
            return None


# A session happening now on each cockpit-ready scanner: (hospital domain, scanner, work, the
# technologist from another hospital who operates it).
DEMO_LIVE = [
    ("sainte-claire.demo", "MR 1", "neuro", "pieter.janssens@scheldeland.demo"),
    ("sainte-claire.demo", "MR 2", "msk", "ines.carvalho@atlantico.demo"),
    ("scheldeland.demo", "MRI A", "cardiac", "lotte.peeters@sainte-claire.demo"),
    ("atlantico.demo", "RM 1", "spine", "tiago.ferreira@atlantico.demo"),
]

# How many top candidates each hospital invites in the demo (every other one accepted).
DEMO_INVITATIONS_PER_HOSPITAL = 4
# Sessions worked in the past weeks: (receiving hospital, technologist, weeks ago, hours).
DEMO_HISTORY = [
    ("scheldeland.demo", "karim.benali@sainte-claire.demo", 1, 6),
    ("scheldeland.demo", "karim.benali@sainte-claire.demo", 3, 4),
    ("sainte-claire.demo", "noor.maes@scheldeland.demo", 2, 5),
    ("sainte-claire.demo", "sofia.rossi@independent.demo", 2, 4),
    ("atlantico.demo", "pieter.janssens@scheldeland.demo", 1, 3),
    ("scheldeland.demo", "tiago.ferreira@atlantico.demo", 4, 6),
]


@dataclass(frozen=True)
class OnCall:
    """A senior's (or an experienced technologist's) on-call schedule in the demo."""

    email: str
    exam_families: tuple[str, ...] = ()  # none: every family on their profile
    # None: every day, all day, for the coming four weeks (on call now, whenever the demo
    # runs); else weekly for four weeks: (RRULE BYDAY, local start, local end).
    weekly: tuple[str, time, time] | None = None
    lent: bool = False  # published by their hospital's manager: the hospital lends the time


# Each live cockpit (DEMO_LIVE) has a senior of another hospital on call now, competent for its
# exam family and familiar with its scanner's vendor, who shares a language with its operator:
# MR 1 (Siemens, neuro; Pieter: nl, en, de): Wim. MR 2 (GE, MSK; Inês: pt, es, en): Wim, Rita.
# MRI A (Philips, cardiac; Lotte: nl, fr, en): Rita, Nathalie. RM 1 (Canon, spine; Tiago: pt,
# en): Wim, Nathalie. The others fill the on-call schedule page in the week.
ON_CALL = [
    OnCall("wim.claes@scheldeland.demo"),
    OnCall("rita.lopes@atlantico.demo", lent=True),
    OnCall("nathalie.lambert@sainte-claire.demo", ("spine", "cardiac")),
    OnCall("lotte.peeters@sainte-claire.demo", ("neuro", "cardiac"), ("TU,TH", time(18), time(22))),
    OnCall(
        "pieter.janssens@scheldeland.demo", ("neuro",), ("MO,WE", time(12), time(20)), lent=True
    ),
    OnCall("ines.carvalho@atlantico.demo", ("paediatric", "neuro"), ("SA", time(8), time(14))),
    OnCall("karim.benali@sainte-claire.demo", ("msk",), ("FR", time(17), time(22))),
]
