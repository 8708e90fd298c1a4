import pytest
from django.core.management import call_command

from accounts.models import User
from marketplace.models import Hospital, Membership, Scanner, Site, TechnologistProfile

pytestmark = pytest.mark.django_db


def _counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (User, Hospital, Site, Scanner, Membership, TechnologistProfile)
    )


def test_demo_data_loads_twice_without_duplicates() -> None:
    call_command("load_demo")
    first = _counts()
    call_command("load_demo")
    assert _counts() == first


def test_demo_data_is_what_the_readme_promises() -> None:
    call_command("load_demo")
    assert Hospital.objects.count() == 3
    assert set(Site.objects.values_list("time_zone", flat=True)) >= {
        "Europe/Brussels",
        "Europe/Lisbon",
    }
    assert Scanner.objects.count() >= 6
    assert Scanner.objects.filter(cockpit_ready=True).count() >= 2
    assert Scanner.objects.values("vendor").distinct().count() >= 3
    assert TechnologistProfile.objects.count() >= 10
    assert TechnologistProfile.objects.values("seniority").distinct().count() == 3
    manager = User.objects.get(email="manager@sainte-claire.demo")
    assert manager.check_password("wescan-demo")
    assert Membership.objects.filter(role="manager").count() == 3
    assert User.objects.get(email="admin@wescan.demo").is_staff
    # Independent technologists belong to no hospital.
    assert User.objects.filter(email__endswith="@independent.demo", memberships=None).exists()
