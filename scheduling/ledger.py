"""Reading the reciprocity ledger: balances between a hospital and each counterpart, monthly
statements, and the record of facts. Selectors only; entries are written by
`scheduling.services.ledger`.

A hospital's view: hours it *gave* (it is the creditor: its staff worked for the other side) and
hours it *received* (it is the debtor). Balance = given − received, so a positive balance means
the counterpart owes the hospital hours. Counterparts are hospitals, and independent
technologists (who only ever give: they are never a debtor).

Months are calendar months on the wall clock of the time zone the caller passes (the pages and
the API pass the hospital's own, `marketplace.selectors.hospital_time_zone`): an entry at 23:30 UTC
on 31 March belongs to April in Brussels. Callers say so next to the figures."""

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, QuerySet, Sum
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import User
from core.dates import FIRST_DAY, LAST_DAY
from core.errors import NotFound
from core.ids import is_id, whole_number
from core.spreadsheets import csv_dialect, csv_opening, spreadsheet_text
from marketplace.models import Hospital
from scheduling.models import Booking, BookingStatus, LedgerEntry, Side

ZERO = Decimal("0.00")
HUNDREDTH = Decimal("0.01")

__all__ = [
    "Balance",
    "Counterpart",
    "Facts",
    "Month",
    "Statement",
    "StatementLine",
    "counterpart_for",
    "ledger_balances",
    "ledger_pair_balance",
    "ledger_statement",
    "parse_month",
    "record_of_facts",
    "statement_csv",
    "statement_filename",
    "worked_hours",
]


# --- Hours worked -----------------------------------------------------------------------------


def worked_hours(
    *, started_at: datetime | None, completed_at: datetime | None, booked: Decimal
) -> Decimal:
    """The hours a completed session counts for, from the cockpit's own record of its start and
    end, rounded to 0.01 h. Never more than the booked hours: the receiving hospital asked for
    that long, and running over is a matter between the two sides, not an automatic debit.
    Never less than nothing. The booked hours when the record lacks a start or an end."""
    if started_at is None or completed_at is None:
        return booked
    seconds = Decimal(max((completed_at - started_at).total_seconds(), 0))
    return min((seconds / 3600).quantize(HUNDREDTH), booked)


# --- Months -----------------------------------------------------------------------------------

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def previous(self) -> "Month | None":
        month = Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)
        return month if month.first_day >= FIRST_DAY else None

    @property
    def next(self) -> "Month | None":
        month = Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)
        return month if month.first_day <= LAST_DAY else None

    def starts_at(self, time_zone: str) -> datetime:
        """Midnight on the 1st, on the wall clock of `time_zone`."""
        return datetime.combine(self.first_day, time.min, tzinfo=ZoneInfo(time_zone))

    def ends_at(self, time_zone: str) -> datetime:
        following = (
            Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)
        )
        return datetime.combine(following.first_day, time.min, tzinfo=ZoneInfo(time_zone))

    @classmethod
    def of(cls, moment: datetime, time_zone: str) -> "Month":
        local = moment.astimezone(ZoneInfo(time_zone))
        return cls(local.year, local.month)


def parse_month(value: str) -> Month:
    """`2026-11` → Month(2026, 11). Anything else, or a month outside WeScan's calendar
    (core.dates), is a NotFound that says what to give instead."""
    matched = _MONTH.match(value or "")
    if matched is not None:
        year, month = int(matched.group(1)), int(matched.group(2))
        # The year and month first: date() refuses year 0 or month 13 with a ValueError.
        in_range = FIRST_DAY.year <= year <= LAST_DAY.year and 1 <= month <= 12
        if in_range and FIRST_DAY <= date(year, month, 1) <= LAST_DAY:
            return Month(year, month)
    raise NotFound(
        _("No statement for %(value)s: give a month as YYYY-MM, between %(first)s and %(last)s.")
        % {"value": repr(value), "first": f"{FIRST_DAY:%Y-%m}", "last": f"{LAST_DAY:%Y-%m}"}
    )


# --- Counterparts and balances ----------------------------------------------------------------


@dataclass(frozen=True)
class Counterpart:
    """The other side of a hospital's entries: another hospital, or an independent
    technologist. `key` names it in addresses (`h12`, `t34`)."""

    kind: str  # "hospital" | "technologist"
    id: int
    name: str

    @property
    def key(self) -> str:
        return f"{self.kind[0]}{self.id}"


def creditor_counterpart(row: Mapping[str, Any]) -> Counterpart:
    """Who was credited in a `values()` row of entries that read `creditor_hospital_id`,
    `creditor_hospital__name`, `creditor_technologist_id` and the technologist's first name,
    last name and e-mail: the lending hospital, or the independent technologist."""
    if row["creditor_hospital_id"] is not None:
        return Counterpart("hospital", row["creditor_hospital_id"], row["creditor_hospital__name"])
    person = User(  # named as pages name people (an erased one: "Former member")
        first_name=row["creditor_technologist__first_name"],
        last_name=row["creditor_technologist__last_name"],
        email=row["creditor_technologist__email"],
    )
    return Counterpart("technologist", row["creditor_technologist_id"], person.display_name)


@dataclass(frozen=True)
class Balance:
    counterpart: Counterpart
    given: Decimal
    received: Decimal

    @property
    def balance(self) -> Decimal:
        """Hours the counterpart owes the hospital (negative: the hospital owes them)."""
        return self.given - self.received

    @property
    def owed(self) -> Decimal:
        """The size of the balance, whichever side owes it (for wording it)."""
        return abs(self.balance)


def _involving(hospital: Hospital, counterpart: Counterpart | None = None) -> Q:
    """Entries in which `hospital` gave or received, with `counterpart` only if given."""
    if counterpart is None:
        return Q(creditor_hospital=hospital) | Q(debtor_hospital=hospital)
    if counterpart.kind == "hospital":
        return Q(creditor_hospital=hospital, debtor_hospital_id=counterpart.id) | Q(
            creditor_hospital_id=counterpart.id, debtor_hospital=hospital
        )
    return Q(creditor_technologist_id=counterpart.id, debtor_hospital=hospital)


def _totals(hospital: Hospital, entries: QuerySet[LedgerEntry]) -> tuple[Decimal, Decimal]:
    sums = entries.aggregate(
        given=Sum("hours", filter=Q(creditor_hospital=hospital)),
        received=Sum("hours", filter=Q(debtor_hospital=hospital)),
    )
    return sums["given"] or ZERO, sums["received"] or ZERO


def ledger_pair_balance(*, hospital: Hospital, counterpart: Hospital) -> Decimal:
    """Hours `hospital` gave `counterpart` minus the hours `counterpart` gave it."""
    other = Counterpart("hospital", counterpart.pk, counterpart.name)
    given, received = _totals(hospital, LedgerEntry.objects.filter(_involving(hospital, other)))
    return given - received


def ledger_balances(*, hospital: Hospital) -> list[Balance]:
    """The hospital's balance with every counterpart it has entries with: two grouped sums in
    the database, largest debt to the hospital first."""
    given = (
        LedgerEntry.objects.filter(creditor_hospital=hospital)
        .values("debtor_hospital_id", "debtor_hospital__name")
        .annotate(hours=Sum("hours"))
        .order_by()
    )
    received = (
        LedgerEntry.objects.filter(debtor_hospital=hospital)
        .values(
            "creditor_hospital_id",
            "creditor_hospital__name",
            "creditor_technologist_id",
            "creditor_technologist__first_name",
            "creditor_technologist__last_name",
            "creditor_technologist__email",
        )
        .annotate(hours=Sum("hours"))
        .order_by()
    )
    sums: dict[Counterpart, list[Decimal]] = {}
    for gave in given:
        other = Counterpart("hospital", gave["debtor_hospital_id"], gave["debtor_hospital__name"])
        sums.setdefault(other, [ZERO, ZERO])[0] += gave["hours"]
    for row in received:
        sums.setdefault(creditor_counterpart(row), [ZERO, ZERO])[1] += row["hours"]
    balances = [Balance(other, given=g, received=r) for other, (g, r) in sums.items()]
    return sorted(balances, key=lambda b: (-b.balance, b.counterpart.name, b.counterpart.key))


def counterpart_for(*, hospital: Hospital, key: str) -> Counterpart:
    """The counterpart named by `key` (`h12`, `t34`): any other hospital, or a technologist
    who has entries with this hospital. Anything else does not exist here."""
    kind = {"h": "hospital", "t": "technologist"}.get(key[:1])
    digits = key[1:]
    pk = whole_number(digits) or 0
    if not is_id(pk):  # beyond 64 bits the database would overflow rather than find nothing
        kind = None
    if kind == "hospital" and pk != hospital.pk:
        other = Hospital.objects.filter(pk=pk).only("name").first()
        if other is not None:
            return Counterpart("hospital", other.pk, other.name)
    elif kind == "technologist":
        known = LedgerEntry.objects.filter(debtor_hospital=hospital, creditor_technologist_id=pk)
        person = User.objects.filter(pk=pk).first() if known.exists() else None
        if person is not None:
            return Counterpart("technologist", person.pk, person.display_name)
    raise NotFound(
        _("%(hospital)s has no ledger counterpart %(key)s.")
        % {"hospital": hospital.name, "key": repr(key)}
    )


# --- Monthly statements -----------------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    entry: LedgerEntry
    booking: Booking
    counterpart: Counterpart
    direction: str  # "given" | "received"
    hours: Decimal
    balance_after: Decimal

    @property
    def given(self) -> Decimal:
        return self.hours if self.direction == "given" else ZERO

    @property
    def received(self) -> Decimal:
        return self.hours if self.direction == "received" else ZERO


@dataclass
class Statement:
    hospital: Hospital
    month: Month
    time_zone: str
    counterpart: Counterpart | None
    opening_balance: Decimal
    lines: list[StatementLine] = field(default_factory=list)

    @property
    def given(self) -> Decimal:
        return sum((line.given for line in self.lines), ZERO)

    @property
    def received(self) -> Decimal:
        return sum((line.received for line in self.lines), ZERO)

    @property
    def closing_balance(self) -> Decimal:
        return self.opening_balance + self.given - self.received

    @property
    def starts_at(self) -> datetime:
        return self.month.starts_at(self.time_zone)

    @property
    def ends_at(self) -> datetime:
        return self.month.ends_at(self.time_zone)


def ledger_statement(
    *,
    hospital: Hospital,
    month: Month,
    time_zone: str,
    counterpart: Counterpart | None = None,
) -> Statement:
    """One month of the hospital's entries (with one counterpart, or all), in the order they
    occurred, each with the balance after it; opening balance = everything before the month.
    Three queries whatever the number of entries."""
    starts_at, ends_at = month.starts_at(time_zone), month.ends_at(time_zone)
    involving = LedgerEntry.objects.filter(_involving(hospital, counterpart))
    given, received = _totals(hospital, involving.filter(occurred_at__lt=starts_at))
    statement = Statement(
        hospital=hospital,
        month=month,
        time_zone=time_zone,
        counterpart=counterpart,
        opening_balance=given - received,
    )
    entries = (
        involving.filter(occurred_at__gte=starts_at, occurred_at__lt=ends_at)
        .select_related(
            "creditor_hospital",
            "creditor_technologist",
            "debtor_hospital",
            "booking__technologist",
            "booking__posting__site",
            "booking__posting__scanner",
        )
        .order_by("occurred_at", "pk")
    )
    balance = statement.opening_balance
    for entry in entries:
        gave = entry.creditor_hospital_id == hospital.pk
        balance += entry.hours if gave else -entry.hours
        statement.lines.append(
            StatementLine(
                entry=entry,
                booking=entry.booking,
                counterpart=_other_side(entry, gave=gave),
                direction="given" if gave else "received",
                hours=entry.hours,
                balance_after=balance,
            )
        )
    return statement


def _other_side(entry: LedgerEntry, *, gave: bool) -> Counterpart:
    if gave:
        return Counterpart("hospital", entry.debtor_hospital_id, entry.debtor_hospital.name)
    if entry.creditor_hospital is not None:
        return Counterpart("hospital", entry.creditor_hospital.pk, entry.creditor_hospital.name)
    person = entry.creditor_technologist
    assert person is not None  # the ledger_one_creditor constraint
    return Counterpart("technologist", person.pk, person.display_name)


# --- Record of facts --------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What happened, counted; never a score.

    - completed: sessions done.
    - late_cancelled: confirmed sessions this side cancelled under 24 h before the start (the
      technologist's when a technologist is given, otherwise the hospital's).
    - no_show: this side's no-shows: sessions the booked technologist did not come to (the
      technologist's record, or theirs at one hospital), or sessions the hospital was not there
      to scan when the booked technologist was (the hospital's record).
    - hours: hours worked in the completed sessions, from the cockpit's record (`worked_hours`).

    Field names as `templates/scheduling/_record.html` reads them."""

    completed: int
    late_cancelled: int
    no_show: int
    hours: Decimal


def record_of_facts(*, technologist: User | None = None, hospital: Hospital | None = None) -> Facts:
    """A technologist's record, a hospital's (its sessions), or a technologist's at one
    hospital when both are given. Two queries."""
    if technologist is None and hospital is None:
        raise ValueError("record_of_facts() needs a technologist, a hospital or both")
    bookings = Booking.objects.all()
    if technologist is not None:
        bookings = bookings.filter(technologist=technologist)
    if hospital is not None:
        bookings = bookings.filter(posting__hospital=hospital)
    side = Side.TECHNOLOGIST if technologist is not None else Side.HOSPITAL
    counts = bookings.aggregate(
        completed=Count("pk", filter=Q(status=BookingStatus.COMPLETED)),
        late_cancelled=Count(
            "pk", filter=Q(status=BookingStatus.CANCELLED, late=True, cancelled_side=side)
        ),
        no_show=Count("pk", filter=Q(status=BookingStatus.NO_SHOW, no_show_side=side)),
    )
    completed: Iterable[tuple[datetime | None, datetime | None, Decimal]] = bookings.filter(
        status=BookingStatus.COMPLETED
    ).values_list("started_at", "completed_at", "hours")
    hours = sum(
        (worked_hours(started_at=s, completed_at=c, booked=h) for s, c, h in completed), ZERO
    )
    return Facts(
        completed=counts["completed"],
        late_cancelled=counts["late_cancelled"],
        no_show=counts["no_show"],
        hours=hours,
    )


# --- The statement as CSV ---------------------------------------------------------------------

CSV_HEADER = [
    _("Date"),
    _("Time zone"),
    _("Kind"),
    _("Direction"),
    _("Counterpart"),
    _("Hours given"),
    _("Hours received"),
    _("Balance after"),
    _("Booking"),
    _("Session start"),
    _("Session end"),
    _("Hospital of the session"),
    _("Site"),
    _("Scanner"),
    _("Technologist"),
]
DIRECTIONS = {
    "given": pgettext_lazy("ledger direction", "given"),
    "received": pgettext_lazy("ledger direction", "received"),
}


def statement_csv(statement: Statement, *, separator: str | None = None) -> str:
    """One row per entry, in the statement's time zone, with the running balance: the opening
    balance is the first row's balance before it, the closing balance the last row's.

    Headers in the active language; columns split as spreadsheets in that language expect
    (";" and decimal commas in Dutch and French, `core.spreadsheets`) unless `separator` ("," or
    ";") says otherwise: a ";" file then has decimal commas, a "," file decimal points. Dutch
    and French files open with a byte order mark, for the accents. Times as YYYY-MM-DD HH:MM,
    which every spreadsheet reads."""
    buffer = io.StringIO()
    separator, mark = csv_dialect(separator)
    writer = csv.writer(buffer, delimiter=separator)

    def number(value: Decimal) -> str:
        return f"{value:.2f}".replace(".", mark)

    buffer.write(csv_opening())
    writer.writerow([str(header) for header in CSV_HEADER])
    zone = ZoneInfo(statement.time_zone)
    for line in statement.lines:
        booking, posting = line.booking, line.booking.posting
        writer.writerow(
            [
                f"{line.entry.occurred_at.astimezone(zone):%Y-%m-%d %H:%M}",
                statement.time_zone,
                str(line.entry.get_kind_display()),
                str(DIRECTIONS[line.direction]),
                spreadsheet_text(line.counterpart.name),
                number(line.given),
                number(line.received),
                number(line.balance_after),
                booking.pk,
                f"{booking.starts_at.astimezone(zone):%Y-%m-%d %H:%M}",
                f"{booking.ends_at.astimezone(zone):%Y-%m-%d %H:%M}",
                spreadsheet_text(line.entry.debtor_hospital.name),
                spreadsheet_text(posting.site.name),
                spreadsheet_text(posting.scanner.name),
                spreadsheet_text(booking.technologist.display_name),
            ]
        )
    return buffer.getvalue()


def statement_filename(statement: Statement) -> str:
    parts = ["wescan-ledger", slugify(statement.hospital.name), str(statement.month)]
    if statement.counterpart is not None:
        parts += ["with", slugify(statement.counterpart.name)]
    return "-".join(part for part in parts if part) + ".csv"
