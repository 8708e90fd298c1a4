"""Recurring windows keep their wall-clock time across daylight-saving changes."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.recurrence import RecurrenceError, expand, parse_rule

BRUSSELS = ZoneInfo("Europe/Brussels")


def _mondays(**kwargs: object) -> list[tuple[datetime, datetime]]:
    first_start = datetime(2027, 3, 15, 8, 0, tzinfo=BRUSSELS)
    options = {
        "starts_at": first_start,
        "ends_at": first_start + timedelta(hours=4),
        "time_zone": "Europe/Brussels",
        "rule": "FREQ=WEEKLY;BYDAY=MO",
        "range_start": datetime(2027, 3, 14, tzinfo=UTC),
        "range_end": datetime(2027, 4, 12, tzinfo=UTC),
        **kwargs,
    }
    return [(o.starts_at, o.ends_at) for o in expand(**options)]  # type: ignore[arg-type]


def test_a_weekly_window_keeps_its_local_hours_across_the_spring_change() -> None:
    # Brussels moves from UTC+1 to UTC+2 on Sunday 28 March 2027.
    assert _mondays() == [
        (datetime(2027, 3, 15, 7, tzinfo=UTC), datetime(2027, 3, 15, 11, tzinfo=UTC)),
        (datetime(2027, 3, 22, 7, tzinfo=UTC), datetime(2027, 3, 22, 11, tzinfo=UTC)),
        (datetime(2027, 3, 29, 6, tzinfo=UTC), datetime(2027, 3, 29, 10, tzinfo=UTC)),
        (datetime(2027, 4, 5, 6, tzinfo=UTC), datetime(2027, 4, 5, 10, tzinfo=UTC)),
    ]


def test_across_the_autumn_change() -> None:
    first = datetime(2027, 10, 25, 8, 0, tzinfo=BRUSSELS)  # back to UTC+1 on 31 October
    found = _mondays(
        starts_at=first,
        ends_at=first + timedelta(hours=4),
        range_start=datetime(2027, 10, 24, tzinfo=UTC),
        range_end=datetime(2027, 11, 2, tzinfo=UTC),
    )
    assert [start.astimezone(BRUSSELS).hour for start, _ in found] == [8, 8]
    assert [start.hour for start, _ in found] == [6, 7]


def test_a_night_window_that_spans_the_change_lasts_its_wall_clock_hours() -> None:
    first = datetime(2027, 3, 27, 22, 0, tzinfo=BRUSSELS)  # Saturday 22:00 to Sunday 06:00
    found = _mondays(
        starts_at=first,
        ends_at=first + timedelta(hours=8),
        rule="FREQ=DAILY;COUNT=1",
        range_start=datetime(2027, 3, 27, tzinfo=UTC),
        range_end=datetime(2027, 3, 29, tzinfo=UTC),
    )
    ((start, end),) = found
    assert end.astimezone(BRUSSELS).hour == 6
    assert end - start == timedelta(hours=7)  # one hour lost to the change


def test_exception_dates_skip_single_occurrences() -> None:
    found = _mondays(exdates=[datetime(2027, 3, 22, 8, 0)])
    assert datetime(2027, 3, 22, 7, tzinfo=UTC) not in [start for start, _ in found]
    assert len(found) == 3


def test_only_occurrences_overlapping_the_range_are_returned() -> None:
    found = _mondays(
        range_start=datetime(2027, 3, 22, 10, tzinfo=UTC),
        range_end=datetime(2027, 3, 29, 6, 30, tzinfo=UTC),
    )
    assert [start for start, _ in found] == [
        datetime(2027, 3, 22, 7, tzinfo=UTC),  # still running at 10:00Z
        datetime(2027, 3, 29, 6, tzinfo=UTC),  # starts before the range ends
    ]


def test_until_ends_the_rule() -> None:
    found = _mondays(rule="FREQ=WEEKLY;BYDAY=MO;UNTIL=20270323T000000")
    assert len(found) == 2


def test_a_one_off_window() -> None:
    start = datetime(2027, 1, 4, 8, tzinfo=UTC)
    assert _mondays(
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        rule="",
        range_start=datetime(2027, 1, 1, tzinfo=UTC),
        range_end=datetime(2027, 2, 1, tzinfo=UTC),
    ) == [(start, start + timedelta(hours=2))]


@pytest.mark.parametrize(
    "rule",
    [
        "",
        "FREQ=FORTNIGHTLY",
        "FREQ=HOURLY",
        "DTSTART:20270101T000000\nRRULE:FREQ=DAILY",
        "nonsense",
    ],
)
def test_bad_rules_are_refused_with_a_reason(rule: str) -> None:
    with pytest.raises(RecurrenceError) as error:
        parse_rule(rule, first_start_local=datetime(2027, 1, 1, 8))
    assert str(error.value)


def test_an_endless_rule_over_a_huge_range_is_refused() -> None:
    with pytest.raises(RecurrenceError, match="shorter"):
        _mondays(rule="FREQ=DAILY", range_end=datetime(2037, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=WEEKLY;BYDAY=MO,TH",
        "FREQ=WEEKLY;INTERVAL=3",
        "FREQ=DAILY;INTERVAL=2",
        "FREQ=DAILY;UNTIL=20280101T000000",
        "FREQ=WEEKLY;COUNT=200;BYDAY=TU",
        "FREQ=MONTHLY;BYDAY=1FR",
    ],
)
def test_an_old_window_expands_as_if_stepped_from_its_first_day(rule: str) -> None:
    """Windows published years ago are expanded from near the range asked (fast); the
    occurrences are the same as stepping through every one since the first, DST included."""
    zone = ZoneInfo("Europe/Brussels")
    first = datetime(2023, 1, 5, 8, 0, tzinfo=zone)  # a Thursday
    window = {
        "starts_at": first,
        "ends_at": first + timedelta(hours=4),
        "time_zone": "Europe/Brussels",
        "rule": rule,
        "exdates": [datetime(2027, 3, 29, 8, 0)],
    }
    start, end = datetime(2027, 3, 20, tzinfo=UTC), datetime(2027, 4, 20, tzinfo=UTC)
    fast = list(expand(**window, range_start=start, range_end=end))  # type: ignore[arg-type]
    stepped = [
        (local_start.replace(tzinfo=zone), local_start.replace(tzinfo=zone) + timedelta(hours=4))
        for local_start in parse_rule(rule, first_start_local=first.replace(tzinfo=None))
        if local_start != datetime(2027, 3, 29, 8, 0)
        and start <= local_start.replace(tzinfo=zone) < end
    ]
    assert [(o.starts_at, o.ends_at) for o in fast] == stepped
    assert all(o.starts_at.astimezone(zone).hour == 8 for o in fast)  # 08:00 local after DST


# The work a refusal may take, in Python-level calls: searching four years day by day for a
# first occurrence ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", next in 2044) takes about
# 32,000; a search up to the year 9999 about 480,000 for a monthly rule and over 14 million for
# a daily one.
REFUSAL_WORK = 100_000


class _StillSearching(Exception):
    pass


def _refusal(rule: str) -> tuple[int, str]:
    """The Python-level calls made while `parse_rule` decides about `rule` (the work, counted
    not timed, so a busy machine cannot decide) and why it refused, "" when it did not. A search
    past REFUSAL_WORK is stopped there rather than left to run to the year 9999."""
    import sys

    steps = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal steps
        steps += 1
        if steps > REFUSAL_WORK:
            raise _StillSearching

    parse_rule.cache_clear()
    sys.setprofile(count)
    try:
        parse_rule(rule, first_start_local=datetime(2026, 11, 23, 8))
    except RecurrenceError as error:
        return steps, str(error)
    except _StillSearching:
        return steps, ""
    finally:
        sys.setprofile(None)
    return steps, ""


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "a day that its months do not have"),
        ("FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=-31", "a day that its months do not have"),
        ("FREQ=DAILY;UNTIL=20200101T000000", "no occurrence within four years"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", "no occurrence within four years"),
        ("FREQ=DAILY;BYHOUR=8,9,10", "at most once a day"),
        # Never, though no month lacks the day: dateutil checks UNTIL only against a day the rule
        # yields, so these used to be searched up to the year 9999 (3 to 5 s each).
        ("FREQ=DAILY;BYMONTHDAY=31;BYYEARDAY=1", "BYYEARDAY, BYWEEKNO, BYSETPOS"),
        ("FREQ=DAILY;BYSETPOS=2", "BYYEARDAY, BYWEEKNO, BYSETPOS"),
        # Never, with only the parts windows use (the start, 23 November 2026, is a Monday).
        ("FREQ=DAILY;INTERVAL=7;BYDAY=TU", "no occurrence within four years"),
        ("FREQ=MONTHLY;INTERVAL=12;BYMONTH=3", "no occurrence within four years"),
        ("FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29", "no occurrence within four years"),
        ("FREQ=WEEKLY;INTERVAL=2;BYMONTH=2;BYMONTHDAY=30", "a day that its months do not have"),
        ("FREQ=DAILY;INTERVAL=1000", "at least every 100 periods"),
        ("FREQ=MONTHLY;BYDAY=53MO", "at most 5 of each weekday"),  # dateutil: IndexError
        ("FREQ=YEARLY;BYMONTH=12;BYDAY=-6TU", "at most 5 of each weekday"),
    ],
)
def test_rules_that_never_happen_or_happen_many_times_a_day_are_refused_at_once(
    rule: str, problem: str
) -> None:
    steps, refused = _refusal(rule)
    # Refused without searching the calendar up to the year 9999.
    assert steps <= REFUSAL_WORK
    assert problem in refused


def test_the_29th_of_february_is_a_rule_that_happens() -> None:
    rule = parse_rule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", first_start_local=datetime(2026, 1, 1))
    assert next(iter(rule)) == datetime(2028, 2, 29)


def test_daily_rules_read_in_words() -> None:
    from scheduling.forms import describe_rule

    assert describe_rule("FREQ=DAILY") == "Every day"
    assert describe_rule("FREQ=DAILY;UNTIL=20261221T235959") == "Every day until 21 Dec 2026"
    assert describe_rule("FREQ=DAILY;INTERVAL=2") == "Repeats: FREQ=DAILY;INTERVAL=2"


# Rules made of the parts dateutil reads, each at values that often never happen together.
_RULE_PARTS = {
    "FREQ": st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]),
    "INTERVAL": st.integers(1, 120).map(str),
    "BYDAY": st.lists(
        st.tuples(st.sampled_from(["", "1", "2", "-1", "5", "53"]), st.sampled_from(["MO", "TU"])),
        min_size=1,
        max_size=2,
    ).map(lambda days: ",".join(n + day for n, day in days)),
    "BYMONTH": st.lists(st.integers(1, 12), min_size=1, max_size=2).map(
        lambda months: ",".join(map(str, months))
    ),
    "BYMONTHDAY": st.lists(st.sampled_from([1, 28, 29, 30, 31, -1, -29, -31]), min_size=1).map(
        lambda days: ",".join(map(str, days))
    ),
    "BYYEARDAY": st.sampled_from(["1", "366", "-1"]),
    "BYWEEKNO": st.sampled_from(["1", "53", "-1"]),
    "BYSETPOS": st.sampled_from(["2", "-3", "1"]),
    "BYEASTER": st.sampled_from(["0", "1"]),
    "UNTIL": st.sampled_from(["20261130T000000", "20290101T000000", "21000101T000000"]),
    "COUNT": st.sampled_from(["1", "3"]),
}


@st.composite
def _rules(draw: st.DrawFn) -> str:
    parts = [f"FREQ={draw(_RULE_PARTS['FREQ'])}"]
    chosen = draw(st.sets(st.sampled_from(sorted(set(_RULE_PARTS) - {"FREQ"})), max_size=4))
    if {"UNTIL", "COUNT"} <= chosen:
        chosen.discard("COUNT")
    parts += [f"{name}={draw(_RULE_PARTS[name])}" for name in sorted(chosen)]
    return ";".join(parts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=_rules())
def test_any_rule_is_decided_within_the_work_of_a_four_year_search(rule: str) -> None:
    """Whatever the rule, accepted or refused, deciding about it walks the calendar no
    further than four years and a month: never up to the year 9999."""
    steps, _ = _refusal(rule)
    assert steps <= REFUSAL_WORK, rule


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=_rules())
def test_any_accepted_rule_expands_a_month_within_bounded_work(rule: str) -> None:
    """A rule accepted may still fall silent for decades (29 February on a Monday): expanding
    it over a month years later walks that month, not the decades up to its next occurrence."""
    import sys

    first = datetime(2026, 11, 23, 8, tzinfo=BRUSSELS)
    try:
        parse_rule(rule, first_start_local=first.replace(tzinfo=None))
    except RecurrenceError:
        return
    steps = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal steps
        steps += 1
        if steps > REFUSAL_WORK:
            raise _StillSearching

    sys.setprofile(count)
    try:
        list(
            expand(
                starts_at=first,
                ends_at=first + timedelta(hours=4),
                time_zone="Europe/Brussels",
                rule=rule,
                range_start=datetime(2031, 3, 1, tzinfo=UTC),
                range_end=datetime(2031, 4, 1, tzinfo=UTC),
            )
        )
    except (RecurrenceError, _StillSearching):
        pass
    finally:
        sys.setprofile(None)
    assert steps <= REFUSAL_WORK, rule
