"""The optimiser's problem, from the database: the open postings of a hospital (or of the
network) over a horizon, the technologists who may take each one, with the ranking's reasons,
and what each technologist already holds. Who may take what is `scheduling.eligibility`'s
answer, the one `candidates_for` gives, with one rule more: a pending booking of theirs that
clashes also excludes (the optimiser must not propose someone for a slot they are already
asked for). Queries are constant, whatever the number of postings and technologists."""

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

from django.db.models import DecimalField, Exists, OuterRef, Prefetch, Sum

from marketplace.models import Hospital, PostingStatus, SessionPosting
from scheduling import workload
from scheduling.eligibility import fits_for
from scheduling.matching import hard_reasons, soft_reasons
from scheduling.models import CONFIRMED_STATUSES, LIVE_STATUSES, Booking
from scheduling.optimiser.problem import Pair, Problem, Session, Technologist

__all__ = ["problem_for"]

# Points are floats with two decimals in the ranking; the solver wants integers.
POINTS_SCALE = 100


def problem_for(
    *, hospital: Hospital | None, now: datetime, horizon: timedelta = timedelta(days=14)
) -> Problem:
    """Sessions: the OPEN postings of `hospital` (all hospitals when None) starting in
    (now, now + horizon] with no live booking on them. Pairs: who passes every hard rule for
    each, with the reasons candidates_for gives. Technologists: those in a pair, with the
    minutes left under the weekly cap in each week they meet and the confirmed minutes they
    hold over the horizon."""
    postings = _open_postings(hospital=hospital, now=now, horizon=horizon)
    fits = fits_for(postings, now=now, pending_clash=True)
    lenders = {fit.lending_hospital_id for found in fits.values() for fit in found}
    hospitals = Hospital.objects.in_bulk({*lenders, *(p.hospital_id for p in postings)} - {None})

    sessions = []
    pairs = []
    held: dict[int, dict[date, Decimal]] = defaultdict(dict)
    names: dict[int, str] = {}
    for posting in postings:
        zone = ZoneInfo(posting.site.time_zone)
        sessions.append(_session(posting, zone))
        for fit in fits.get(posting.pk, []):
            user_id = fit.person.user_id
            names[user_id] = fit.person.name
            held[user_id][fit.week] = fit.held
            lender = hospitals.get(fit.lending_hospital_id) if fit.lending_hospital_id else None
            soft = soft_reasons(posting, fit, lender=lender, hospital=posting.hospital)
            points = {reason.term: reason.points for reason in soft}
            pairs.append(
                Pair(
                    session_id=posting.pk,
                    technologist_id=user_id,
                    week=fit.week,
                    reciprocity=_scaled(points["reciprocity"]),
                    experience=_scaled(points["vendor_experience"])
                    + _scaled(points["hospital_experience"]),
                    reasons=(*hard_reasons(posting, fit, zone=zone), *soft),
                )
            )
    fortnight = _fortnight_minutes(list(names), now=now, horizon=horizon)
    technologists = tuple(
        Technologist(
            id=user_id,
            name=names[user_id],
            cap_left={week: _minutes_left(hours) for week, hours in sorted(held[user_id].items())},
            fortnight_minutes=fortnight.get(user_id, 0),
        )
        for user_id in sorted(names)
    )
    return Problem(
        sessions=tuple(sorted(sessions, key=lambda s: (s.starts_at, s.id))),
        technologists=technologists,
        pairs=tuple(sorted(pairs, key=lambda p: (p.session_id, p.technologist_id))),
        rest_buffer=workload.REST_BUFFER,
    )


def _open_postings(
    *, hospital: Hospital | None, now: datetime, horizon: timedelta
) -> list[SessionPosting]:
    postings = SessionPosting.objects.filter(
        status=PostingStatus.OPEN, starts_at__gt=now, starts_at__lte=now + horizon
    ).exclude(Exists(Booking.objects.filter(posting_id=OuterRef("pk"), status__in=LIVE_STATUSES)))
    if hospital is not None:
        postings = postings.filter(hospital=hospital)
    return list(
        postings.select_related("hospital", "site", "scanner")
        .prefetch_related(
            Prefetch("required_exam_families", to_attr="prefetched_families"),
            Prefetch("languages", to_attr="prefetched_languages"),
        )
        .order_by("starts_at", "pk")
    )


def _session(posting: SessionPosting, zone: ZoneInfo) -> Session:
    start, end = posting.starts_at.astimezone(zone), posting.ends_at.astimezone(zone)
    until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%a %d %b %H:%M}"
    return Session(
        id=posting.pk,
        starts_at=posting.starts_at,
        ends_at=posting.ends_at,
        minutes=int((posting.ends_at - posting.starts_at).total_seconds() // 60),
        urgency=posting.urgency,
        hospital_id=posting.hospital_id,
        label=f"{posting.hospital.name}, {posting.scanner.name}, "
        f"{start:%a %d %b %H:%M}–{until} (site time)",
    )


def _scaled(points: float) -> int:
    return round(points * POINTS_SCALE)


def _minutes_left(held: Decimal) -> int:
    left = (workload.WEEKLY_CAP_HOURS - held) * 60
    return max(0, int(left.to_integral_value(rounding=ROUND_FLOOR)))


def _fortnight_minutes(user_ids: list[int], *, now: datetime, horizon: timedelta) -> dict[int, int]:
    """Confirmed minutes each holds in bookings under way or starting within the horizon."""
    if not user_ids:
        return {}
    rows = (
        Booking.objects.filter(
            status__in=CONFIRMED_STATUSES, starts_at__lt=now + horizon, ends_at__gt=now
        )
        .order_by()
        .values_list("technologist_id")
        .annotate(total=Sum("hours", output_field=DecimalField(max_digits=8, decimal_places=2)))
    )
    wanted = set(user_ids)
    return {user_id: int(Decimal(total) * 60) for user_id, total in rows if user_id in wanted}
