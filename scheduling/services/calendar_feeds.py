"""Private iCalendar addresses: one per person (their bookings) and one per hospital (its
sessions). Made on first use; rotating replaces the token, so the old address answers 404 from
then on. Only the person themself, or a manager of the hospital, sees or rotates one."""

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.audit import audit_record
from core.errors import PermissionDenied
from marketplace.access import require_manager
from marketplace.models import Hospital
from scheduling.models import CalendarFeed, CalendarFeedKind

__all__ = ["calendar_feed_for", "calendar_feed_for_hospital", "calendar_feed_rotate"]


def _new_token() -> str:
    return secrets.token_urlsafe(32)  # 43 characters, 256 bits


def calendar_feed_for(*, user: User) -> CalendarFeed:
    """The person's own feed, made on first use."""
    return _feed_for(actor=user, kind=CalendarFeedKind.PERSON, owner={"user": user}, hospital=None)


def calendar_feed_for_hospital(*, actor: User, hospital: Hospital) -> CalendarFeed:
    """The hospital's feed of its sessions, for its managers; made on first use."""
    require_manager(actor, hospital)
    return _feed_for(
        actor=actor,
        kind=CalendarFeedKind.HOSPITAL,
        owner={"hospital": hospital},
        hospital=hospital,
    )


def _feed_for(
    *, actor: User, kind: str, owner: dict[str, object], hospital: Hospital | None
) -> CalendarFeed:
    feed = CalendarFeed.objects.filter(kind=kind, **owner).first()
    if feed is not None:
        return feed
    try:
        with transaction.atomic():
            feed = CalendarFeed.objects.create(kind=kind, token=_new_token(), **owner)
            audit_record(
                actor=actor, action="calendar_feed.created", target=feed, hospital=hospital
            )
    except IntegrityError:
        # Two first visits at once: the other one made it.
        return CalendarFeed.objects.get(kind=kind, **owner)
    return feed


@transaction.atomic
def calendar_feed_rotate(*, actor: User, feed: CalendarFeed) -> CalendarFeed:
    """A new address; the old one stops working at once (a calendar app subscribed to it gets
    404 and must be given the new one)."""
    feed = (
        CalendarFeed.objects.select_for_update(of=("self",))
        .select_related("hospital")
        .get(pk=feed.pk)
    )
    if feed.kind == CalendarFeedKind.HOSPITAL:
        assert feed.hospital is not None  # the calendar_feed_one_owner constraint
        require_manager(actor, feed.hospital)
    elif feed.user_id != actor.pk:
        raise PermissionDenied(_("Only its owner may give a calendar feed a new address."))
    feed.token = _new_token()
    feed.rotated_at = timezone.now()
    feed.save(update_fields=["token", "rotated_at"])
    audit_record(actor=actor, action="calendar_feed.rotated", target=feed, hospital=feed.hospital)
    return feed
