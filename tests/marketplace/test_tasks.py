"""The periodic jobs: licence expiry warnings (daily) and expiring postings (every 5 minutes).
Both run twice without doing anything twice; both are registered with Celery beat."""

import smtplib
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date, timedelta
from typing import Any
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.conf import settings
from django.core import mail
from django.utils import timezone

from core.models import AuditEvent
from marketplace import services
from marketplace.models import PostingStatus, SessionPosting, TechnologistProfile
from marketplace.tasks import (
    expire_postings,
    licence_expiry_warning_send,
    licence_expiry_warnings,
)
from tests.conftest import World
from tests.factories import TechnologistProfileFactory, UserFactory
from wescan.celery import app

pytestmark = pytest.mark.django_db

Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


def _licensed(
    admin: Any, *, valid_until: date, verified: bool = True, number: str = "BE-RT-1001"
) -> TechnologistProfile:
    user = UserFactory(first_name="Zoë")
    services.technologist_profile_update(
        actor=user,
        user=user,
        seniority="senior",
        licence_number=number,
        licence_authority="Agentschap Zorg & Gezondheid (BE)",
        licence_valid_until=valid_until,
    )
    profile = TechnologistProfile.objects.get(user=user)
    if verified:
        services.technologist_licence_verify(actor=admin, profile=profile)
    return profile


def _run_warnings(capture: Capture) -> int:
    with capture(execute=True):
        return licence_expiry_warnings()


# --- Licence expiry warnings ------------------------------------------------------------------


def test_a_licence_expiring_within_30_days_is_warned_about_once(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    today = timezone.localdate()
    profile = _licensed(world.admin, valid_until=today + timedelta(days=20))

    assert _run_warnings(django_capture_on_commit_callbacks) == 1
    assert _run_warnings(django_capture_on_commit_callbacks) == 0

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [profile.user.email]
    expires = f"{today + timedelta(days=20):%-d %B %Y}"
    assert message.body.startswith("Hello Zoë,\n")
    assert "BE-RT-1001 (Agentschap Zorg & Gezondheid (BE))" in message.body  # plain text
    assert f"expires on {expires}" in message.body
    assert "Renew it and update WeScan" in message.body
    assert "/me/technologist/" in message.body  # where the licence is updated
    profile.refresh_from_db()
    assert profile.licence_expiry_warned_for == today + timedelta(days=20)


def test_the_warning_is_mailed_only_once_the_claim_commits(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    _licensed(world.admin, valid_until=timezone.localdate() + timedelta(days=3))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert licence_expiry_warnings() == 1
    assert mail.outbox == []  # the transaction has not committed: nothing is sent yet
    assert len(callbacks) == 1
    callbacks[0]()
    assert len(mail.outbox) == 1


def test_no_warning_for_unverified_far_future_or_expired_licences(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    today = timezone.localdate()
    _licensed(world.admin, valid_until=today + timedelta(days=10), verified=False, number="U-1")
    _licensed(world.admin, valid_until=today + timedelta(days=31), number="F-1")
    _licensed(world.admin, valid_until=today + timedelta(days=400), number="F-2")
    expired = _licensed(world.admin, valid_until=today + timedelta(days=400), number="E-1")
    TechnologistProfile.objects.filter(pk=expired.pk).update(
        licence_valid_until=today - timedelta(days=1)
    )
    TechnologistProfileFactory()  # no licence on file at all

    assert _run_warnings(django_capture_on_commit_callbacks) == 0
    assert mail.outbox == []


def test_a_renewed_licence_gets_its_own_warning(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    today = timezone.localdate()
    profile = _licensed(world.admin, valid_until=today + timedelta(days=5))
    assert _run_warnings(django_capture_on_commit_callbacks) == 1

    # Renewed: a new expiry date, checked again by an admin. It is warned about in its turn.
    services.technologist_profile_update(
        actor=profile.user, user=profile.user, licence_valid_until=today + timedelta(days=28)
    )
    profile.refresh_from_db()
    assert profile.licence_verified_at is None
    assert _run_warnings(django_capture_on_commit_callbacks) == 0  # not verified yet
    services.technologist_licence_verify(actor=world.admin, profile=profile)
    assert _run_warnings(django_capture_on_commit_callbacks) == 1
    assert _run_warnings(django_capture_on_commit_callbacks) == 0

    assert len(mail.outbox) == 2
    assert f"{today + timedelta(days=5):%-d %B %Y}" in mail.outbox[0].body
    assert f"{today + timedelta(days=28):%-d %B %Y}" in mail.outbox[1].body


def test_a_warning_whose_licence_changed_before_mailing_is_not_sent(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    today = timezone.localdate()
    profile = _licensed(world.admin, valid_until=today + timedelta(days=12))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        licence_expiry_warnings()
    services.technologist_profile_update(
        actor=profile.user, user=profile.user, licence_valid_until=today + timedelta(days=900)
    )
    callbacks[0]()
    assert mail.outbox == []


def test_a_licence_renewed_while_the_job_runs_is_not_claimed_early(world: World) -> None:
    """Between listing the due warnings and claiming one, the technologist renews: the new,
    far expiry date must not be marked as warned now, or it would never be warned about."""
    today = timezone.localdate()
    profile = _licensed(world.admin, valid_until=today + timedelta(days=9))
    due = services.licence_expiry_warnings_due(today=today)
    assert due == [profile.pk]
    services.technologist_profile_update(
        actor=profile.user, user=profile.user, licence_valid_until=today + timedelta(days=700)
    )
    services.technologist_licence_verify(actor=world.admin, profile=profile)

    assert services.licence_mark_warned(profile_id=profile.pk, today=today) is None
    profile.refresh_from_db()
    assert profile.licence_expiry_warned_for is None
    later = today + timedelta(days=690)
    assert services.licence_expiry_warnings_due(today=later) == [profile.pk]
    claimed = services.licence_mark_warned(profile_id=profile.pk, today=later)
    assert claimed is not None
    assert claimed.licence_expiry_warned_for == today + timedelta(days=700)


def test_the_mail_is_retried_on_a_transient_smtp_error_only(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    today = timezone.localdate()
    profile = _licensed(world.admin, valid_until=today + timedelta(days=12))
    hung_up = mock.Mock(side_effect=smtplib.SMTPServerDisconnected("the server hung up"))
    # Eager Celery surfaces the retry it schedules; a worker would run the task again later.
    with mock.patch("marketplace.tasks.send_mail", hung_up), pytest.raises(Retry):
        _run_warnings(django_capture_on_commit_callbacks)
    assert mail.outbox == []
    assert licence_expiry_warning_send.max_retries == 5
    assert licence_expiry_warning_send(profile.pk, (today + timedelta(days=12)).isoformat())
    assert len(mail.outbox) == 1
    assert _run_warnings(django_capture_on_commit_callbacks) == 0  # still claimed: no repeat

    # A bug is not retried: it surfaces as itself, at once.
    _licensed(world.admin, valid_until=today + timedelta(days=13), number="BE-RT-2002")
    broken = mock.Mock(side_effect=ValueError("template bug"))
    with (
        mock.patch("marketplace.tasks.send_mail", broken),
        pytest.raises(ValueError, match="template bug"),
    ):
        _run_warnings(django_capture_on_commit_callbacks)
    assert broken.call_count == 1


# --- Expiring postings ------------------------------------------------------------------------


def _posting(world: World, *, hours_ahead: float, publish: bool = True) -> SessionPosting:
    """A posting made through the service (which refuses past starts), then moved in time."""
    placeholder = timezone.now() + timedelta(days=1)
    posting = services.posting_create(
        actor=world.manager,
        hospital=world.hospital,
        scanner=world.scanner,
        starts_at=placeholder,
        ends_at=placeholder + timedelta(hours=4),
        publish=publish,
    )
    starts_at = timezone.now() + timedelta(hours=hours_ahead)
    SessionPosting.objects.filter(pk=posting.pk).update(
        starts_at=starts_at, ends_at=starts_at + timedelta(hours=4)
    )
    return posting


def test_expire_postings_expires_open_postings_whose_start_passed(world: World) -> None:
    started = _posting(world, hours_ahead=-1)
    long_gone = _posting(world, hours_ahead=-30)
    draft = _posting(world, hours_ahead=-1, publish=False)
    upcoming = _posting(world, hours_ahead=2)
    before = timezone.now()

    assert expire_postings() == 2

    statuses = dict(SessionPosting.objects.values_list("pk", "status"))
    assert statuses == {
        started.pk: PostingStatus.EXPIRED,
        long_gone.pk: PostingStatus.EXPIRED,
        draft.pk: PostingStatus.DRAFT,
        upcoming.pk: PostingStatus.OPEN,
    }
    started.refresh_from_db()
    assert started.closed_at is not None
    assert started.closed_at >= before
    events = AuditEvent.objects.filter(action="posting.expired")
    assert sorted(int(e.target_id) for e in events) == sorted([started.pk, long_gone.pk])
    assert {(e.actor_id, e.actor_label, e.hospital_id) for e in events} == {
        (None, "", world.hospital.pk)
    }

    # A second run finds nothing left to do.
    assert expire_postings() == 0
    assert AuditEvent.objects.filter(action="posting.expired").count() == 2
    assert SessionPosting.objects.get(pk=upcoming.pk).status == PostingStatus.OPEN


# --- Beat -------------------------------------------------------------------------------------


def test_beat_runs_both_jobs_on_their_schedules() -> None:
    app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE
    by_task = {entry["task"]: entry for entry in schedule.values()}
    assert set(by_task) >= {
        "marketplace.tasks.licence_expiry_warnings",
        "marketplace.tasks.expire_postings",
    }
    for name in by_task:
        assert name in app.tasks, f"beat names an unknown task {name}"
    daily = by_task["marketplace.tasks.licence_expiry_warnings"]["schedule"]
    assert daily.hour == {6}
    assert daily.minute == {0}
    assert by_task["marketplace.tasks.expire_postings"]["schedule"] == 300
