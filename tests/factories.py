import time
from decimal import Decimal

import factory
import pyotp
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from factory.django import DjangoModelFactory

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

PASSWORD = "correct-horse-battery"


def enrol_totp(user: User) -> str:
    """Give `user` an authenticator app (and recovery codes), as setting one up on the page
    does; returns its secret (`totp_code` reads it back). A person who must have a second factor
    needs one before any page (accounts.mfa_required), a technologist before a cockpit."""
    secret = pyotp.random_base32()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return secret


# Codes a test typed, per person: allauth takes each code once, so a second sign-in in the
# same 30 s takes the next period's (MFA_TOTP_TOLERANCE = 1 accepts it).
_used_codes: set[tuple[int, int]] = set()


def totp_code(user: User) -> str:
    """A code `user`'s authenticator app shows now (or the next one, if this one was used).
    Computed at the moment it is typed, from the same clock the server reads: no time frozen."""
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    totp = pyotp.TOTP(authenticator.data["secret"])
    period = int(time.time()) // totp.interval
    for counter in (period, period + 1):
        if (user.pk, counter) not in _used_codes:
            _used_codes.add((user.pk, counter))
            return totp.at(counter * totp.interval)
    raise AssertionError(f"{user.email} signed in more than twice in 30 seconds")


def forget_used_codes() -> None:
    """A new test: the server's record of used codes (its cache) is new too."""
    _used_codes.clear()


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.org")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class HospitalFactory(DjangoModelFactory):
    class Meta:
        model = Hospital

    name = factory.Sequence(lambda n: f"Hospital {n}")
    city = factory.Faker("city")
    country = "BE"


class SiteFactory(DjangoModelFactory):
    class Meta:
        model = Site

    hospital = factory.SubFactory(HospitalFactory)
    name = factory.Sequence(lambda n: f"Site {n}")
    city = factory.Faker("city")
    time_zone = "Europe/Brussels"


class ScannerFactory(DjangoModelFactory):
    class Meta:
        model = Scanner

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"MR {n}")
    modality = Modality.MRI
    vendor = factory.Iterator([Vendor.SIEMENS, Vendor.GE, Vendor.PHILIPS, Vendor.CANON])
    model_name = factory.Iterator(["MAGNETOM Vida", "SIGNA Artist", "Ingenia", "Vantage Orian"])
    field_strength_tesla = factory.Iterator([Decimal("1.50"), Decimal("3.00")])
    cockpit_ready = True


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    hospital = factory.SubFactory(HospitalFactory)
    role = Role.TECHNOLOGIST


class TechnologistProfileFactory(DjangoModelFactory):
    class Meta:
        model = TechnologistProfile

    user = factory.SubFactory(UserFactory)
    seniority = factory.Iterator([Seniority.JUNIOR, Seniority.EXPERIENCED, Seniority.SENIOR])
    years_experience = factory.Faker("pyint", min_value=0, max_value=30)


def access_token(
    user: User, *, scope: str = "write", with_second_factor: bool = True, days: int = 365
) -> str:
    """The secret of a new personal access token of `user` (made, by default, as from a session
    that passed a second factor: it works for every role)."""
    from accounts.tokens import access_token_create

    return access_token_create(
        user=user,
        name="Test client",
        scope=scope,
        expires_in_days=days,
        with_second_factor=with_second_factor,
    ).secret
