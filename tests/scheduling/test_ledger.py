"""The reciprocity ledger: what a completed booking and a hospital's late cancellation write, and
what balances, monthly statements (months on the hospital's wall clock) and the record of facts
read back; the API over them. Bookings go through the real services on a frozen clock (today is
Monday 23 November 2026, 09:00 UTC; sessions from Monday 30 November, Brussels time)."""

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from accounts.models import User
from core.errors import NotFound
from core.models import AuditEvent
from marketplace.models import Role, Scanner, SessionPosting
from scheduling import ledger, services
from scheduling.models import Booking, BookingStatus, LedgerEntry, LedgerKind
from tests.conftest import PEOPLE, World, api_as, who
from tests.factories import MembershipFactory, UserFactory
from tests.scheduling.support import Clock, available, confirmed, licensed, local, post

pytestmark = pytest.mark.django_db

H = Decimal


# --- People and sessions --------------------------------------------------------------------------


@pytest.fixture
def lent(world: World, clock: Clock) -> User:
    """Sainte-Claire's technologist, lent by Sainte-Claire's manager every day."""
    licensed(world.technologist)
    available(world.technologist, actor=world.manager)
    return world.technologist


@pytest.fixture
def lent_by_other(world: World, clock: Clock) -> User:
    """Scheldeland's technologist, lent by Scheldeland's manager every day."""
    person = UserFactory(email="tech-b@example.org", first_name="Bram", last_name="Claes")
    MembershipFactory(user=person, hospital=world.other_hospital, role=Role.TECHNOLOGIST)
    licensed(person)
    available(person, actor=world.other_manager)
    return person


@pytest.fixture
def independent(world: World, clock: Clock) -> User:
    """Someone of no hospital, offering their own time."""
    person = world.outsider
    person.first_name, person.last_name = "Ines", "Dupont"
    person.save(update_fields=["first_name", "last_name"])
    licensed(person)
    available(person)
    return person


def worked(
    clock: Clock,
    manager: User,
    posting: SessionPosting,
    technologist: User,
    *,
    late_by: timedelta = timedelta(0),
    length: timedelta | None = None,
) -> Booking:
    """Booked, started `late_by` after the start, completed `length` later (the whole session
    by default), through the services."""
    booking = confirmed(manager, posting, technologist)
    clock.now = posting.starts_at + late_by
    booking = services.booking_start(actor=technologist, booking=booking)
    clock.now += length if length is not None else posting.ends_at - posting.starts_at
    return services.booking_complete(actor=technologist, booking=booking)


def session(
    world: World, scanner: Scanner, day: int, hour: int = 8, hours: float = 4
) -> SessionPosting:
    manager = world.manager if scanner == world.scanner else world.other_manager
    return post(manager, scanner, local(11 if day >= 23 else 12, day, hour), hours=hours)


def entries() -> list[tuple[str, str | None, str | None, str, Decimal]]:
    return [
        (
            e.kind,
            e.creditor_hospital.name if e.creditor_hospital else None,
            e.creditor_technologist.email if e.creditor_technologist else None,
            e.debtor_hospital.name,
            e.hours,
        )
        for e in LedgerEntry.objects.select_related(
            "creditor_hospital", "creditor_technologist", "debtor_hospital"
        ).order_by("pk")
    ]


# --- Writing: completed bookings ------------------------------------------------------------------


def test_a_completed_lent_booking_credits_the_lender_with_the_hours_worked(
    world: World, lent: User, clock: Clock
) -> None:
    posting = session(world, world.other_scanner, 30)  # Scheldeland's 4 h session
    booking = worked(
        clock,
        world.other_manager,
        posting,
        lent,
        late_by=timedelta(minutes=10),
        length=timedelta(hours=3, minutes=20),
    )
    assert entries() == [
        ("completed", "Hôpital Sainte-Claire", None, "Ziekenhuis Scheldeland", H("3.33"))
    ]
    entry = LedgerEntry.objects.get()
    assert entry.booking == booking
    assert entry.occurred_at == booking.completed_at
    event = AuditEvent.objects.get(action="ledger.completed")
    assert event.hospital == world.other_hospital
    assert event.data["hours"] == "3.33"


def test_recording_twice_changes_nothing(world: World, lent: User, clock: Clock) -> None:
    booking = worked(clock, world.other_manager, session(world, world.other_scanner, 30), lent)
    again = services.ledger_record_completed(booking=booking)
    assert again == LedgerEntry.objects.get()
    assert entries() == [
        ("completed", "Hôpital Sainte-Claire", None, "Ziekenhuis Scheldeland", H("4.00"))
    ]
    assert AuditEvent.objects.filter(action="ledger.completed").count() == 1


def test_running_over_counts_the_booked_hours_at_most(
    world: World, lent: User, clock: Clock
) -> None:
    posting = session(world, world.other_scanner, 30)
    booking = confirmed(world.other_manager, posting, lent)
    clock.now = posting.starts_at - timedelta(minutes=15)  # started early
    booking = services.booking_start(actor=lent, booking=booking)
    clock.now = posting.ends_at + timedelta(minutes=40)  # and ran over
    services.booking_complete(actor=world.other_manager, booking=booking)
    assert LedgerEntry.objects.get().hours == H("4.00")


def test_without_a_recorded_start_the_booked_hours_count(
    world: World, lent: User, clock: Clock
) -> None:
    posting = session(world, world.other_scanner, 30, hours=2.5)
    booking = confirmed(world.other_manager, posting, lent)
    Booking.objects.filter(pk=booking.pk).update(status=BookingStatus.COMPLETED, started_at=None)
    booking.refresh_from_db()
    assert services.ledger_record_completed(booking=booking) is not None
    assert LedgerEntry.objects.get().hours == H("2.50")


def test_an_independent_technologist_is_credited_themself(
    world: World, independent: User, clock: Clock
) -> None:
    worked(clock, world.manager, session(world, world.scanner, 30), independent)
    assert entries() == [
        ("completed", None, "independent@example.org", "Hôpital Sainte-Claire", H("4.00"))
    ]


def test_own_staff_owe_nothing(world: World, lent: User, clock: Clock) -> None:
    # Lent by Sainte-Claire to Sainte-Claire itself; and a Sainte-Claire technologist working
    # for it on their own time.
    colleague = UserFactory(email="colleague@example.org")
    MembershipFactory(user=colleague, hospital=world.hospital, role=Role.TECHNOLOGIST)
    licensed(colleague)
    available(colleague)
    first = worked(clock, world.manager, session(world, world.scanner, 30), lent)
    second = worked(clock, world.manager, session(world, world.scanner, 1), colleague)
    assert (first.lending_hospital, second.lending_hospital) == (world.hospital, None)
    assert Booking.objects.filter(status=BookingStatus.COMPLETED).count() == 2
    assert entries() == []
    assert not AuditEvent.objects.filter(action__startswith="ledger.").exists()


# --- Writing: cancellations -----------------------------------------------------------------------


def test_a_hospitals_late_cancellation_owes_the_booked_hours(
    world: World, lent: User, independent: User, clock: Clock
) -> None:
    first = confirmed(world.other_manager, session(world, world.other_scanner, 30), lent)
    second = confirmed(world.manager, session(world, world.scanner, 1), independent)
    clock.now = first.starts_at - timedelta(hours=10)
    services.booking_cancel(actor=world.other_manager, booking=first, reason="Scanner down")
    clock.now = second.starts_at - timedelta(hours=23)
    services.booking_cancel(actor=world.manager, booking=second, reason="Scanner down")
    assert entries() == [
        ("late_cancellation", "Hôpital Sainte-Claire", None, "Ziekenhuis Scheldeland", H("4.00")),
        ("late_cancellation", None, "independent@example.org", "Hôpital Sainte-Claire", H("4.00")),
    ]
    assert LedgerEntry.objects.order_by("pk").first().occurred_at == first.starts_at - timedelta(
        hours=10
    )
    assert AuditEvent.objects.filter(action="ledger.late_cancellation").count() == 2


def test_cancellations_that_owe_nothing(
    world: World, lent: User, lent_by_other: User, clock: Clock
) -> None:
    # In time (25 h ahead); late but by the technologist; a pending booking withdrawn late.
    in_time = confirmed(world.other_manager, session(world, world.other_scanner, 30), lent)
    by_tech = confirmed(world.other_manager, session(world, world.other_scanner, 1), lent)
    pending = services.booking_invite(
        actor=world.manager, posting=session(world, world.scanner, 2), technologist=lent_by_other
    )
    clock.now = in_time.starts_at - timedelta(hours=25)
    services.booking_cancel(actor=world.other_manager, booking=in_time, reason="Moved")
    clock.now = by_tech.starts_at - timedelta(hours=2)
    late = services.booking_cancel(actor=lent, booking=by_tech, reason="Ill")
    assert late.late
    clock.now = pending.starts_at - timedelta(hours=1)
    services.booking_cancel(actor=world.manager, booking=pending, reason="Not needed")
    assert entries() == []


# --- Reading: balances and statements -------------------------------------------------------------


@pytest.fixture
def traded(world: World, lent: User, lent_by_other: User, independent: User, clock: Clock) -> None:
    """Sainte-Claire gives Scheldeland 3.5 h on 30 Nov and receives 4 h back on 1 Dec; an
    independent technologist gives Sainte-Claire 2 h on 2 Dec; Scheldeland cancels late on
    Sainte-Claire's technologist (4 h owed) at 00:30 on 1 Dec Brussels (23:30 UTC on 30 Nov)."""
    cancelled = confirmed(
        world.other_manager, session(world, world.other_scanner, 1, hour=10), lent
    )
    worked(
        clock,
        world.other_manager,
        session(world, world.other_scanner, 30),
        lent,
        length=timedelta(hours=3, minutes=30),
    )
    clock.now = local(12, 1, 0, 30)
    services.booking_cancel(actor=world.other_manager, booking=cancelled, reason="Scanner down")
    worked(clock, world.manager, session(world, world.scanner, 1, hour=15), lent_by_other)
    worked(clock, world.manager, session(world, world.scanner, 2, hours=2), independent)


def test_balances_with_every_counterpart(world: World, traded: None) -> None:
    balances = {
        b.counterpart.name: (b.counterpart.kind, b.given, b.received, b.balance)
        for b in ledger.ledger_balances(hospital=world.hospital)
    }
    assert balances == {
        "Ziekenhuis Scheldeland": ("hospital", H("7.50"), H("4.00"), H("3.50")),
        "Ines Dupont": ("technologist", H("0"), H("2.00"), H("-2.00")),
    }
    other = ledger.ledger_balances(hospital=world.other_hospital)
    assert [(b.counterpart.name, b.balance) for b in other] == [
        ("Hôpital Sainte-Claire", H("-3.50"))
    ]
    assert ledger.ledger_pair_balance(
        hospital=world.hospital, counterpart=world.other_hospital
    ) == H("3.50")
    assert ledger.ledger_pair_balance(
        hospital=world.other_hospital, counterpart=world.hospital
    ) == H("-3.50")


def test_a_statement_runs_on_the_hospitals_wall_clock(world: World, traded: None) -> None:
    november = ledger.ledger_statement(
        hospital=world.hospital, month=ledger.Month(2026, 11), time_zone="Europe/Brussels"
    )
    assert [(line.direction, line.hours, line.balance_after) for line in november.lines] == [
        ("given", H("3.50"), H("3.50"))
    ]
    assert (november.opening_balance, november.given, november.received) == (0, H("3.50"), 0)
    assert november.closing_balance == H("3.50")

    december = ledger.ledger_statement(
        hospital=world.hospital, month=ledger.Month(2026, 12), time_zone="Europe/Brussels"
    )
    # The late cancellation at 00:30 Brussels on 1 December is December's, though it is
    # still 30 November in UTC.
    assert [
        (line.entry.kind, line.direction, line.counterpart.name, line.hours)
        for line in december.lines
    ] == [
        ("late_cancellation", "given", "Ziekenhuis Scheldeland", H("4.00")),
        ("completed", "received", "Ziekenhuis Scheldeland", H("4.00")),
        ("completed", "received", "Ines Dupont", H("2.00")),
    ]
    assert december.opening_balance == november.closing_balance
    assert (december.given, december.received) == (H("4.00"), H("6.00"))
    assert december.closing_balance == H("1.50")
    assert december.lines[-1].balance_after == december.closing_balance

    in_utc = ledger.ledger_statement(
        hospital=world.hospital, month=ledger.Month(2026, 11), time_zone="UTC"
    )
    assert [line.entry.kind for line in in_utc.lines] == ["completed", "late_cancellation"]


def test_a_statement_with_one_counterpart(world: World, traded: None) -> None:
    scheldeland = ledger.counterpart_for(hospital=world.hospital, key=f"h{world.other_hospital.pk}")
    december = ledger.ledger_statement(
        hospital=world.hospital,
        month=ledger.Month(2026, 12),
        time_zone="Europe/Brussels",
        counterpart=scheldeland,
    )
    assert {line.counterpart.name for line in december.lines} == {"Ziekenhuis Scheldeland"}
    assert (december.opening_balance, december.closing_balance) == (H("3.50"), H("3.50"))
    independent = LedgerEntry.objects.get(creditor_technologist__isnull=False)
    assert (
        ledger.counterpart_for(
            hospital=world.hospital, key=f"t{independent.creditor_technologist_id}"
        ).name
        == "Ines Dupont"
    )
    for key in ("h999999", f"h{world.hospital.pk}", f"t{world.manager.pk}", "x1", "h", "tt"):
        with pytest.raises(NotFound):
            ledger.counterpart_for(hospital=world.hospital, key=key)


@pytest.mark.parametrize("value", ["2026-13", "2026-00", "1999-12", "2100-01", "2026-1", "nov", ""])
def test_months_outside_the_calendar_are_not_found(value: str) -> None:
    with pytest.raises(NotFound, match="YYYY-MM"):
        ledger.parse_month(value)


def test_months_at_the_edges_of_the_calendar() -> None:
    assert ledger.parse_month("2000-01").previous is None
    assert ledger.parse_month("2099-12").next is None
    assert str(ledger.parse_month("2026-12").next) == "2027-01"


# --- Reading: the record of facts -----------------------------------------------------------------


def test_the_record_of_facts(world: World, lent: User, lent_by_other: User, clock: Clock) -> None:
    worked(
        clock,
        world.other_manager,
        session(world, world.other_scanner, 30),
        lent,
        length=timedelta(hours=3, minutes=45),
    )
    no_show = confirmed(world.other_manager, session(world, world.other_scanner, 1), lent)
    dropped = confirmed(world.other_manager, session(world, world.other_scanner, 3), lent)
    cancelled = confirmed(world.manager, session(world, world.scanner, 4), lent_by_other)
    clock.now = no_show.starts_at + timedelta(minutes=20)
    services.booking_mark_no_show(actor=world.other_manager, booking=no_show)
    clock.now = dropped.starts_at - timedelta(hours=3)
    services.booking_cancel(actor=lent, booking=dropped, reason="Ill")
    clock.now = cancelled.starts_at - timedelta(hours=5)
    services.booking_cancel(actor=world.manager, booking=cancelled, reason="Scanner down")

    assert ledger.record_of_facts(technologist=lent) == ledger.Facts(
        completed=1, late_cancelled=1, no_show=1, hours=H("3.75")
    )
    # Scheldeland: the session done, and no late cancellation nor no-show of its own (the
    # technologist's no-show is on the technologist's record).
    assert ledger.record_of_facts(hospital=world.other_hospital) == ledger.Facts(
        completed=1, late_cancelled=0, no_show=0, hours=H("3.75")
    )
    assert ledger.record_of_facts(hospital=world.hospital) == ledger.Facts(
        completed=0, late_cancelled=1, no_show=0, hours=H("0")
    )
    assert ledger.record_of_facts(technologist=lent_by_other).late_cancelled == 0


# --- API ------------------------------------------------------------------------------------------

API_MANAGER = {
    "anonymous": 401,
    "outsider": 404,
    "other_manager": 404,
    "technologist": 403,
    "local_staff": 403,
    "manager": 200,
    "admin": 200,
}


@pytest.mark.parametrize("path", ["ledger/", "ledger/2026-11/"])
@pytest.mark.parametrize("role", PEOPLE)
def test_the_ledger_api_is_for_the_hospitals_managers(world: World, role: str, path: str) -> None:
    response = api_as(who(world, role)).get(f"/api/v1/hospitals/{world.hospital.pk}/{path}")
    assert response.status_code == API_MANAGER[role]
    if response.status_code != 200:
        assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_the_balances_over_the_api(world: World, traded: None) -> None:
    body = api_as(world.manager).get(f"/api/v1/hospitals/{world.hospital.pk}/ledger/").json()
    assert body["time_zone"] == "Europe/Brussels"
    assert [
        (
            b["counterpart"]["kind"],
            b["counterpart"]["name"],
            b["given"],
            b["received"],
            b["balance"],
        )
        for b in body["balances"]
    ] == [
        ("hospital", "Ziekenhuis Scheldeland", "7.50", "4.00", "3.50"),
        ("technologist", "Ines Dupont", "0.00", "2.00", "-2.00"),
    ]
    # Sessions at Sainte-Claire: the two it received.
    assert body["record"] == {"completed": 2, "late_cancelled": 0, "no_show": 0, "hours": "6.00"}


def test_a_statement_over_the_api(world: World, traded: None) -> None:
    url = f"/api/v1/hospitals/{world.hospital.pk}/ledger/2026-12/"
    body = api_as(world.manager).get(url).json()
    assert (body["month"], body["opening_balance"], body["closing_balance"]) == (
        "2026-12",
        "3.50",
        "1.50",
    )
    assert datetime.fromisoformat(body["starts_at"]) == local(12, 1, 0)
    assert body["time_zone"] == "Europe/Brussels"
    first = body["lines"][0]
    assert (first["kind"], first["direction"], first["hours"], first["balance_after"]) == (
        "late_cancellation",
        "given",
        "4.00",
        "7.50",
    )
    assert first["booking"]["technologist"] == world.technologist.display_name
    assert first["booking"]["scanner"] == "MRI A"

    only = api_as(world.manager).get(url, {"counterpart": f"h{world.other_hospital.pk}"}).json()
    assert len(only["lines"]) == 2
    assert only["counterpart"]["name"] == "Ziekenhuis Scheldeland"


def test_a_statement_as_csv_over_the_api(world: World, traded: None) -> None:
    url = f"/api/v1/hospitals/{world.hospital.pk}/ledger/2026-12/"
    for response in (
        api_as(world.manager).get(url, {"format": "csv"}),
        api_as(world.manager).get(url, HTTP_ACCEPT="text/csv"),
    ):
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == (
            'attachment; filename="wescan-ledger-hopital-sainte-claire-2026-12.csv"'
        )
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert [
            (r["Kind"], r["Hours given"], r["Hours received"], r["Balance after"]) for r in rows
        ] == [
            (LedgerKind.LATE_CANCELLATION.label, "4.00", "0.00", "7.50"),
            (LedgerKind.COMPLETED.label, "0.00", "4.00", "3.50"),
            (LedgerKind.COMPLETED.label, "0.00", "2.00", "1.50"),
        ]


def test_the_csv_is_split_as_spreadsheets_in_the_language_expect(
    world: World, traded: None
) -> None:
    """Dutch and French spreadsheets split columns on ";" (the comma is their decimal mark), and
    read accents right when the file opens with a byte order mark; English ones split on ","."""
    url = f"/api/v1/hospitals/{world.hospital.pk}/ledger/2026-12/"
    dutch = api_as(world.manager).get(url, {"format": "csv"}, HTTP_ACCEPT_LANGUAGE="nl-BE")
    assert dutch.status_code == 200
    text = dutch.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0][:3] == ["Datum", "Tijdzone", "Soort"]
    assert [row[5:8] for row in rows[1:]] == [
        ["4,00", "0,00", "7,50"],
        ["0,00", "4,00", "3,50"],
        ["0,00", "2,00", "1,50"],
    ]
    assert rows[1][3] == "gegeven"

    french = api_as(world.manager).get(url, {"format": "csv"}, HTTP_ACCEPT_LANGUAGE="fr-BE")
    rows = list(csv.reader(io.StringIO(french.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][5:7] == ["Heures données", "Heures reçues"]
    assert rows[-1][7] == "1,50"

    english = api_as(world.manager).get(url, {"format": "csv"}, HTTP_ACCEPT_LANGUAGE="en")
    text = english.content.decode("utf-8")
    assert not text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["Date", "Time zone", "Kind"]
    assert rows[-1][7] == "1.50"


def test_the_separator_asked_for_wins_over_the_language(world: World, traded: None) -> None:
    url = f"/api/v1/hospitals/{world.hospital.pk}/ledger/2026-12/"
    client = api_as(world.manager)
    comma = client.get(url, {"format": "csv", "separator": "comma"}, HTTP_ACCEPT_LANGUAGE="nl-BE")
    rows = list(csv.reader(io.StringIO(comma.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Datum", "Tijdzone", "Soort"]  # still Dutch words
    assert rows[-1][7] == "1.50"

    semicolon = client.get(url, {"format": "csv", "separator": "semicolon"})
    rows = list(csv.reader(io.StringIO(semicolon.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:2] == ["Date", "Time zone"]
    assert rows[-1][7] == "1,50"

    wrong = client.get(url, {"format": "csv", "separator": "tab"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["fields"] == {"separator": ["Not one of the choices."]}


@pytest.mark.parametrize("month", ["2026-13", "1999-01", "12-2026", "0000-01"])
def test_a_month_outside_the_calendar_is_a_clear_404_over_the_api(world: World, month: str) -> None:
    for params in ({}, {"format": "csv"}):
        response = api_as(world.manager).get(
            f"/api/v1/hospitals/{world.hospital.pk}/ledger/{month}/", params
        )
        assert response.status_code == 404
        assert "YYYY-MM" in response.json()["error"]["message"]


@pytest.mark.parametrize("key", ["h999999", "t99999999999999999999", "h-1", "x1"])
def test_an_unknown_counterpart_is_a_404_over_the_api(world: World, key: str) -> None:
    response = api_as(world.manager).get(
        f"/api/v1/hospitals/{world.hospital.pk}/ledger/2026-11/", {"counterpart": key}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
