"""Posting services: what a manager may post, and how a posting moves through its states."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.models import AuditEvent
from marketplace import services
from marketplace.models import ExamFamily, Language, PostingStatus, SessionPosting
from tests.conftest import World

pytestmark = pytest.mark.django_db


def _post(world: World, **overrides: object) -> SessionPosting:
    start = timezone.now() + timedelta(days=3)
    options: dict[str, object] = {
        "actor": world.manager,
        "hospital": world.hospital,
        "scanner": world.scanner,
        "starts_at": start,
        "ends_at": start + timedelta(hours=4),
        "notes": "Neuro list, 6 exams, contrast nurse on site",
        **overrides,
    }
    return services.posting_create(**options)  # type: ignore[arg-type]


def test_a_posting_takes_site_and_vendor_from_its_scanner(world: World) -> None:
    posting = _post(world, required_exam_families=ExamFamily.objects.filter(code="neuro"))
    assert (posting.site, posting.vendor) == (world.site, world.scanner.vendor)
    assert posting.status == PostingStatus.DRAFT
    assert [f.code for f in posting.required_exam_families.all()] == ["neuro"]
    assert posting.duration_hours == Decimal("4.00")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"starts_at": timezone.now() + timedelta(days=3), "ends_at": timezone.now()}, "ends_at"),
        (
            {
                "starts_at": timezone.now() + timedelta(days=3),
                "ends_at": timezone.now() + timedelta(days=3, hours=13),
            },
            "ends_at",
        ),
        (
            {
                "starts_at": timezone.now() - timedelta(hours=1),
                "ends_at": timezone.now() + timedelta(hours=2),
            },
            "starts_at",
        ),
        ({"notes": "Patient born 12/03/1957"}, "notes"),
        ({"notes": "Call the ward on +32 2 555 12 34"}, "notes"),
        ({"compensation": "hourly_rate"}, "hourly_rate_eur"),
        ({"compensation": "reciprocity", "hourly_rate_eur": Decimal("40")}, "hourly_rate_eur"),
    ],
)
def test_refused_postings_name_the_field_and_save_nothing(
    world: World, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as error:
        _post(world, **overrides)
    assert field in error.value.fields
    assert not SessionPosting.objects.exists()
    assert not AuditEvent.objects.exists()


def test_identifier_like_notes_get_a_message_saying_why(world: World) -> None:
    with pytest.raises(ValidationFailed) as error:
        _post(world, notes="DOB 1957-03-12")
    assert "Describe the work, never the patient" in error.value.message


def test_another_hospitals_scanner_is_refused(world: World) -> None:
    with pytest.raises(ValidationFailed) as error:
        _post(world, scanner=world.other_scanner)
    assert error.value.fields == {"scanner": ["No such scanner in this hospital."]}


def test_only_the_hospitals_managers_post(world: World) -> None:
    for person in (world.technologist, world.other_manager):
        with pytest.raises(PermissionDenied):
            _post(world, actor=person)
    assert not SessionPosting.objects.exists()


def test_draft_open_cancelled(world: World) -> None:
    posting = _post(world)
    posting = services.posting_publish(actor=world.manager, posting=posting)
    assert posting.status == PostingStatus.OPEN
    with pytest.raises(Conflict):
        services.posting_publish(actor=world.manager, posting=posting)
    posting = services.posting_update(
        actor=world.manager,
        posting=posting,
        urgency="urgent",
        languages=Language.objects.filter(code="nl"),
    )
    assert posting.urgency == "urgent"
    posting = services.posting_cancel(actor=world.manager, posting=posting, reason="Scanner down")
    assert posting.status == PostingStatus.CANCELLED
    with pytest.raises(Conflict):
        services.posting_update(actor=world.manager, posting=posting, urgency="routine")
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions == [
        "posting.created",
        "posting.published",
        "posting.updated",
        "posting.cancelled",
    ]


def test_an_update_is_checked_like_a_new_posting(world: World) -> None:
    posting = _post(world, publish=True)
    with pytest.raises(ValidationFailed):
        services.posting_update(actor=world.manager, posting=posting, notes="ring 0475 12 34 56")
    posting.refresh_from_db()
    assert posting.notes == "Neuro list, 6 exams, contrast nurse on site"


def test_open_postings_expire_once_their_start_has_passed(world: World) -> None:
    due = _post(world, publish=True)
    later = _post(
        world,
        publish=True,
        starts_at=timezone.now() + timedelta(days=9),
        ends_at=timezone.now() + timedelta(days=9, hours=2),
    )
    draft = _post(world, starts_at=due.ends_at, ends_at=due.ends_at + timedelta(hours=1))
    moment = due.starts_at + timedelta(minutes=1)
    assert services.posting_expire_due(now=moment) == 1
    assert services.posting_expire_due(now=moment) == 0
    statuses = dict(SessionPosting.objects.values_list("pk", "status"))
    assert statuses == {due.pk: "expired", later.pk: "open", draft.pk: "draft"}
    assert AuditEvent.objects.get(action="posting.expired").actor is None


def test_a_scanner_without_the_cockpit_cannot_be_posted(world: World) -> None:
    world.scanner.cockpit_ready = False
    world.scanner.save()
    with pytest.raises(ValidationFailed) as error:
        _post(world)
    assert "not cockpit-ready" in error.value.fields["scanner"][0]


def test_one_scanner_cannot_have_two_sessions_posted_at_once(world: World) -> None:
    first = _post(world, publish=True)
    with pytest.raises(ValidationFailed) as error:
        _post(
            world,
            starts_at=first.starts_at + timedelta(hours=3),
            ends_at=first.ends_at + timedelta(hours=3),
        )
    assert "MR 1 already has a session posted" in error.value.fields["starts_at"][0]
    # Back to back is fine, and so is the same time once the first is cancelled.
    _post(world, starts_at=first.ends_at, ends_at=first.ends_at + timedelta(hours=2))
    services.posting_cancel(actor=world.manager, posting=first)
    _post(world, publish=True)
