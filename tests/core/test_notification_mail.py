"""Mail that goes with a notification: to the other side of each booking move, once, after the
move commits; skipped for people who cannot receive it; retried only on a passing SMTP failure;
queued again when its task was lost (the broker down), for a day."""

import smtplib
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from kombu.exceptions import OperationalError

from accounts.models import User
from core import notify
from core.models import Notification
from core.notify import notification_send
from core.tasks import (
    notification_mail,
    notification_mails,
    notification_mails_overdue,
)
from marketplace.models import SessionPosting
from scheduling import services
from scheduling.models import Booking
from tests.conftest import World
from tests.factories import MembershipFactory, UserFactory
from tests.scheduling.support import Clock, available, freeze, licensed, local, post

pytestmark = pytest.mark.django_db

Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return freeze(monkeypatch)


@pytest.fixture
def tech(world: World, clock: Clock) -> User:
    licensed(world.technologist)
    available(world.technologist)
    world.technologist.first_name = "Ann"
    world.technologist.last_name = "Peeters"
    world.technologist.save()
    return world.technologist


@pytest.fixture
def posting(world: World, clock: Clock) -> SessionPosting:
    """Monday 30 November, 08:00–12:00 Brussels on MR 1."""
    return post(world.manager, world.scanner, local(11, 30, 8))


def _mails_to(address: str) -> list[EmailMultiAlternatives]:
    return [m for m in mail.outbox if address in m.to]  # type: ignore[misc]


def _invite(world: World, posting: SessionPosting, tech: User, capture: Capture) -> Booking:
    with capture(execute=True):
        return services.booking_invite(actor=world.manager, posting=posting, technologist=tech)


def test_an_invitation_mails_the_technologist_once_with_a_link(
    world: World,
    tech: User,
    posting: SessionPosting,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    booking = _invite(world, posting, tech, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [tech.email]
    assert message.subject == "[WeScan] You are invited to a session"
    link = f"{settings.PUBLIC_BASE_URL}/bookings/{booking.pk}/"
    assert "Hello Ann," in message.body
    assert "Hôpital Sainte-Claire invites you to a session on Mon 30 Nov 08:00–12:00" in (
        message.body
    )
    assert link in message.body
    html, mimetype = message.alternatives[0]  # type: ignore[attr-defined]
    assert mimetype == "text/html"
    assert f'href="{link}"' in html
    notice = Notification.objects.get(recipient=tech)
    assert notice.emailed_at is not None
    assert notice.url == f"/bookings/{booking.pk}/"

    # The task run again (a redelivered message, a second worker) sends nothing.
    assert notification_mail(notice.pk) is False
    assert len(mail.outbox) == 1


def test_an_application_mails_the_hospitals_managers_only(
    world: World,
    tech: User,
    posting: SessionPosting,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    second = UserFactory(email="second-manager@example.org")
    MembershipFactory(user=second, hospital=world.hospital, role="manager")
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_apply(actor=tech, posting=posting)
    assert sorted(m.to[0] for m in mail.outbox) == [world.manager.email, second.email]
    assert {m.subject for m in mail.outbox} == {"[WeScan] A technologist applied for your session"}
    assert "Ann Peeters applied for the session" in mail.outbox[0].body
    assert not _mails_to(tech.email)
    assert not _mails_to(world.other_manager.email)


@pytest.mark.parametrize(
    ("move", "to", "subject", "text"),
    [
        ("accept", "manager", "[WeScan] Session confirmed", "Confirmed: Ann Peeters"),
        ("decline", "manager", "[WeScan] Booking declined", "Declined: the session"),
        ("cancel_by_tech", "manager", "[WeScan] Session cancelled", "Reason: Family matter"),
    ],
)
def test_the_answer_to_an_invitation_mails_the_manager(
    world: World,
    tech: User,
    posting: SessionPosting,
    django_capture_on_commit_callbacks: Capture,
    move: str,
    to: str,
    subject: str,
    text: str,
) -> None:
    booking = _invite(world, posting, tech, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        if move == "accept":
            services.booking_accept(actor=tech, booking=booking)
        elif move == "decline":
            services.booking_decline(actor=tech, booking=booking)
        else:
            services.booking_cancel(actor=tech, booking=booking, reason="Family matter")
    assert [m.to for m in mail.outbox] == [[world.manager.email]]
    assert mail.outbox[0].subject == subject
    assert text in mail.outbox[0].body


def test_a_hospitals_cancellation_mails_the_technologist_with_the_reason(
    world: World,
    tech: User,
    posting: SessionPosting,
    clock: Clock,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    booking = _invite(world, posting, tech, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_accept(actor=tech, booking=booking)
    mail.outbox.clear()
    clock.now = posting.starts_at - timedelta(hours=5)
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_cancel(actor=world.manager, booking=booking, reason="Scanner down")
    assert [m.to for m in mail.outbox] == [[tech.email]]
    assert mail.outbox[0].subject == "[WeScan] Session cancelled"
    assert "Reason: Scanner down" in mail.outbox[0].body


def test_starting_and_completing_stay_in_the_app(
    world: World,
    tech: User,
    posting: SessionPosting,
    clock: Clock,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    booking = _invite(world, posting, tech, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        booking = services.booking_accept(actor=tech, booking=booking)
    mail.outbox.clear()
    clock.now = posting.starts_at
    with django_capture_on_commit_callbacks(execute=True):
        booking = services.booking_start(actor=tech, booking=booking)
        services.booking_complete(actor=tech, booking=booking)
    assert mail.outbox == []
    kinds = list(
        Notification.objects.filter(recipient=world.manager)
        .order_by("pk")
        .values_list("kind", "emailed_at")
    )
    assert kinds[-2:] == [("booking.started", None), ("booking.completed", None)]


def test_the_same_event_told_twice_is_stored_and_mailed_once(
    world: World, django_capture_on_commit_callbacks: Capture
) -> None:
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            notification_send(
                user_ids=[world.manager.pk, world.technologist.pk, world.manager.pk],
                kind="test.event",
                message="Your session at MR 1 moved to 09:00.",
                dedupe_key_prefix="test:1",
            )
    assert Notification.objects.count() == 2
    assert sorted(m.to[0] for m in mail.outbox) == [world.manager.email, world.technologist.email]
    # Without a subject of its own, a kind's mail takes the start of the message.
    assert mail.outbox[0].subject == "[WeScan] Your session at MR 1 moved to 09:00."


@pytest.mark.parametrize("problem", ["inactive", "no_address"])
def test_people_who_cannot_receive_mail_are_skipped(
    world: World, django_capture_on_commit_callbacks: Capture, problem: str
) -> None:
    if problem == "inactive":
        User.objects.filter(pk=world.outsider.pk).update(is_active=False)
    else:
        User.objects.filter(pk=world.outsider.pk).update(email="")
    with django_capture_on_commit_callbacks(execute=True):
        notification_send(
            user_ids=[world.outsider.pk, world.manager.pk], kind="test", message="Hello."
        )
    assert [m.to for m in mail.outbox] == [[world.manager.email]]
    # Still listed in the app, and no mail owed: none is tried again later.
    assert Notification.objects.filter(
        recipient=world.outsider, emailed_at=None, mail_due=False
    ).exists()
    assert notification_mails_overdue.apply().get() == 0
    assert len(mail.outbox) == 1


def broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Queueing a task fails as kombu fails with Redis stopped."""

    def refused(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(notification_mail, "delay", refused)
    monkeypatch.setattr(notification_mails, "delay", refused)


def test_a_mail_queued_while_the_broker_was_down_goes_out_once_it_is_back(
    world: World,
    clock: Clock,
    django_capture_on_commit_callbacks: Capture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    made_at = clock.now
    with pytest.MonkeyPatch.context() as patch:
        broker_down(patch)
        with django_capture_on_commit_callbacks(execute=True):
            notification_send(
                user_ids=[world.manager.pk, world.technologist.pk],
                kind="booking.confirmed",
                message="Your session at MR 1 on Monday is confirmed.",
            )
            notification_send(user_ids=[world.manager.pk], kind="test", message="Hi.", mail=False)
        # The notices stand (the move committed), listed in the app; the mails are owed.
        assert "Connection refused" in caplog.text
        assert mail.outbox == []
        assert Notification.objects.filter(mail_due=True).count() == 2
        # A worker may still be busy with the first tasks: nothing for 10 minutes.
        clock.now = made_at + timedelta(minutes=9, seconds=59)
        assert notification_mails_overdue.apply().get() == 0
        # The job while the broker is still down: it fails, and loses nothing.
        clock.now = made_at + timedelta(minutes=10)
        with pytest.raises(OperationalError):
            notification_mails_overdue.apply(throw=True)
    # The broker is back. Tried 10 minutes ago: not again before another 10.
    clock.now = made_at + timedelta(minutes=19, seconds=59)
    assert notification_mails_overdue.apply().get() == 0
    assert mail.outbox == []
    clock.now = made_at + timedelta(minutes=20)
    assert notification_mails_overdue.apply().get() == 2
    assert sorted(m.to[0] for m in mail.outbox) == [world.manager.email, world.technologist.email]
    assert {m.subject for m in mail.outbox} == {"[WeScan] Session confirmed"}
    assert Notification.objects.filter(mail_due=True).count() == 0
    # Once each: the next run finds nothing owed, and a late first task sends nothing.
    clock.now = made_at + timedelta(minutes=45)
    assert notification_mails_overdue.apply().get() == 0
    for notice in Notification.objects.filter(kind="booking.confirmed"):
        assert notification_mail.apply(args=[notice.pk]).get() is False
    assert len(mail.outbox) == 2


def test_a_mail_still_owed_is_queued_again_every_ten_minutes_not_every_run(
    world: World, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While its tasks go nowhere (the mail server away past their retries, a worker killed
    each time), a notice is queued again every ten minutes, not at every run of the job."""
    (notice,) = notification_send(user_ids=[world.manager.pk], kind="test", message="Hello.")
    queued: list[tuple[object, list[int]]] = []
    monkeypatch.setattr(
        notify, "notification_mails_queue", lambda ids: queued.append((clock.now, ids))
    )
    made_at = clock.now
    for minutes in range(0, 31):
        clock.now = made_at + timedelta(minutes=minutes)
        notification_mails_overdue.apply()
    assert queued == [(made_at + timedelta(minutes=m), [notice.pk]) for m in (10, 20, 30)]


@pytest.mark.parametrize(
    ("kind", "worth"),
    [
        ("booking.confirmed", timedelta(days=1)),
        ("booking.reminder_1h", timedelta(hours=1)),
        ("assist.requested", timedelta(minutes=30)),
    ],
)
@pytest.mark.parametrize("late", [False, True])
def test_a_mail_no_longer_worth_sending_is_given_up(
    world: World,
    clock: Clock,
    django_capture_on_commit_callbacks: Capture,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    worth: timedelta,
    late: bool,
) -> None:
    """A request for help mailed an hour late, or a reminder after the session began, is noise:
    each kind's mail is worth sending for so long (a day at most)."""
    made_at = clock.now
    with pytest.MonkeyPatch.context() as patch:
        broker_down(patch)
        with django_capture_on_commit_callbacks(execute=True):
            notification_send(user_ids=[world.manager.pk], kind=kind, message="News.")
    clock.now = made_at + worth + (timedelta(seconds=1) if late else timedelta(0))
    queued = notification_mails_overdue.apply().get()
    (notice,) = Notification.objects.filter(recipient=world.manager)
    if late:
        assert (queued, mail.outbox) == (0, [])
        assert "1 notification mails given up" in caplog.text
        # Still in the app, unread; no longer owed.
        assert (notice.read_at, notice.emailed_at, notice.mail_due) == (None, None, False)
    else:
        assert (queued, [m.to for m in mail.outbox]) == (1, [[world.manager.email]])
        assert notice.emailed_at is not None


def test_a_passing_smtp_failure_is_retried_and_mails_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    (notice,) = notification_send(
        user_ids=[world.manager.pk], kind="test", message="Hello.", mail=False
    )
    real_send = EmailMultiAlternatives.send
    failures = [smtplib.SMTPServerDisconnected("Connection unexpectedly closed")]

    def flaky(self: EmailMultiAlternatives, fail_silently: bool = False) -> int:
        if failures:
            raise failures.pop()
        return real_send(self, fail_silently)

    monkeypatch.setattr(EmailMultiAlternatives, "send", flaky)
    # As a worker runs it: the retry is not an error raised to the caller.
    result = notification_mail.apply(args=[notice.pk], throw=False)
    assert result.get() is True
    assert [m.to for m in mail.outbox] == [[world.manager.email]]
    notice.refresh_from_db()
    assert notice.emailed_at is not None


def test_a_bug_is_not_retried(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    (notice,) = notification_send(
        user_ids=[world.manager.pk], kind="test", message="Hello.", mail=False
    )
    calls: list[int] = []

    def broken(self: EmailMultiAlternatives, fail_silently: bool = False) -> int:
        calls.append(1)
        raise ValueError("bad header")

    monkeypatch.setattr(EmailMultiAlternatives, "send", broken)
    with pytest.raises(ValueError, match="bad header"):
        notification_mail.apply(args=[notice.pk])
    assert calls == [1]
    notice.refresh_from_db()
    assert notice.emailed_at is None


@pytest.mark.django_db(transaction=True)
def test_two_senders_racing_store_one_notice_and_both_commit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second sender's insert meets the first's key (on PostgreSQL it waits for the first to
    commit, then clashes); its savepoint absorbs the clash and its own transaction goes on."""
    first_inserted = threading.Event()
    results: dict[str, Any] = {}
    clashes: list[IntegrityError] = []
    create = Notification.objects.create

    def create_seen(**fields: Any) -> Notification:
        try:
            return create(**fields)
        except IntegrityError as error:
            clashes.append(error)
            raise

    monkeypatch.setattr(Notification.objects, "create", create_seen)

    def first() -> None:
        try:
            with transaction.atomic():
                results["first"] = notification_send(
                    user_ids=[world.manager.pk],
                    kind="test",
                    message="Once.",
                    dedupe_key_prefix="race",
                )
                first_inserted.set()
                time.sleep(0.5)  # the second sender is now inside its own transaction
        finally:
            first_inserted.set()
            connection.close()

    def second() -> None:
        first_inserted.wait(5)
        try:
            with transaction.atomic():
                results["second"] = notification_send(
                    user_ids=[world.manager.pk],
                    kind="test",
                    message="Once.",
                    dedupe_key_prefix="race",
                )
                # The transaction is still usable after the clash.
                results["after"] = Notification.objects.create(
                    recipient=world.technologist, kind="test", message="Afterwards."
                ).pk
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert len(results["first"]) == 1
    assert results["second"] == []
    assert Notification.objects.filter(dedupe_key=f"race:{world.manager.pk}").count() == 1
    assert Notification.objects.filter(pk=results["after"]).exists()
    assert [m.to for m in mail.outbox] == [[world.manager.email]]
    # On SQLite the second transaction starts only once the first has committed, and finds the
    # notice before inserting; on PostgreSQL the two overlap and the insert clashes.
    assert len(clashes) == (1 if connection.vendor == "postgresql" else 0)


def test_a_channel_layer_that_is_down_loses_the_live_push_only(
    world: World,
    tech: User,
    posting: SessionPosting,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Capture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def down() -> None:
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(notify, "get_channel_layer", down)
    booking = _invite(world, posting, tech, django_capture_on_commit_callbacks)
    assert Booking.objects.filter(pk=booking.pk).exists()
    assert Notification.objects.filter(recipient=tech, kind="booking.invited").exists()
    assert [m.to for m in mail.outbox] == [[tech.email]]
    assert "Redis is down" in caplog.text


def test_a_burst_of_notices_waits_once_for_its_mail(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Embedded mode mails in the background after a pause; notices queued during the pause join
    the batch, so a burst of moves (the demo loader's dozens) waits once, not once per move."""
    settings.NOTIFICATION_MAIL_IN_BACKGROUND = True
    monkeypatch.setattr(notify, "MAIL_AFTER_PUSH_S", 0.3)
    batches: list[list[int]] = []
    mailed = threading.Event()

    def mail_all(notification_ids: list[int]) -> None:
        batches.append(notification_ids)
        mailed.set()

    monkeypatch.setattr(notify, "_mail_all", mail_all)
    started = time.monotonic()
    for first in (1, 3, 5):
        notify.notification_mails_queue([first, first + 1])
    while not mailed.is_set() and time.monotonic() - started < 10:
        time.sleep(0.01)
    assert batches == [[1, 2, 3, 4, 5, 6]]
    notify.notification_mails_queue([7])  # after the batch went, a new one starts
    while len(batches) < 2 and time.monotonic() - started < 10:
        time.sleep(0.01)
    assert batches == [[1, 2, 3, 4, 5, 6], [7]]
