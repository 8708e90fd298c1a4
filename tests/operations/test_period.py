"""The period a dashboard covers, read from the query parameters the page, the CSV and the API
share: defaults, bounds, and a message for every refusal."""

from datetime import UTC, date

import pytest

from core.errors import ValidationFailed
from operations.dashboard import period_from
from operations.figures import Period

TODAY = date(2026, 11, 30)  # a Monday
ZONE = "Europe/Brussels"


def period(**params: str) -> Period:
    return period_from(params, time_zone=ZONE, today=TODAY)


def refusal(**params: str) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        period(**params)
    return caught.value


def test_the_default_is_the_twelve_weeks_ending_today_by_week() -> None:
    assert period() == Period(date(2026, 9, 8), TODAY, "week", ZONE)
    assert period().days == 84
    # Empty values count as absent, as in a form left blank.
    assert period(start="", end="", granularity="") == period()


def test_a_period_given_whole() -> None:
    assert period(start="2025-01-01", end="2026-11-30", granularity="month") == Period(
        date(2025, 1, 1), TODAY, "month", ZONE
    )


def test_one_end_given() -> None:
    assert period(end="2026-06-30") == Period(date(2026, 4, 8), date(2026, 6, 30), "week", ZONE)
    assert period(start="2026-01-05") == Period(date(2026, 1, 5), date(2026, 3, 29), "week", ZONE)
    # Twelve weeks from a recent start would run past today: until today.
    assert period(start="2026-11-16").end == TODAY
    # A start in the future stands alone.
    assert period(start="2026-12-07") == Period(date(2026, 12, 7), date(2026, 12, 7), "week", ZONE)


def test_two_years_at_most() -> None:
    assert period(start="2024-11-30", end="2026-11-30").days == 731
    error = refusal(start="2024-11-29", end="2026-11-30")
    assert error.message == "The period may cover at most 731 days (two years)."
    assert "start" in error.fields


@pytest.mark.parametrize(
    ("params", "message", "field"),
    [
        (
            {"start": "2026-13-01"},
            "'start' must be a date as YYYY-MM-DD, not '2026-13-01'.",
            "start",
        ),
        ({"end": "yesterday"}, "'end' must be a date as YYYY-MM-DD, not 'yesterday'.", "end"),
        ({"end": "2026-1-1"}, "'end' must be a date as YYYY-MM-DD, not '2026-1-1'.", "end"),
        ({"start": "1999-12-31"}, "'start' must be between 2000-01-01 and 2099-12-31.", "start"),
        ({"end": "9999-12-31"}, "'end' must be between 2000-01-01 and 2099-12-31.", "end"),
        (
            {"start": "2026-11-02", "end": "2026-11-01"},
            "'end' must not be before 'start'.",
            "end",
        ),
        ({"granularity": "day"}, "'granularity' must be week or month, not 'day'.", "granularity"),
        # Only exactly YYYY-MM-DD: not an ISO week date, nor the basic format.
        (
            {"start": "2026-W40-1"},
            "'start' must be a date as YYYY-MM-DD, not '2026-W40-1'.",
            "start",
        ),
        ({"end": "20261005"}, "'end' must be a date as YYYY-MM-DD, not '20261005'.", "end"),
        (
            {"end": "２０２６-10-05"},
            "'end' must be a date as YYYY-MM-DD, not '２０２６-10-05'.",
            "end",
        ),
        # Too long: refused before anything else, without repeating it.
        (
            {"start": "x" * 10_000},
            "'start' must be a date as YYYY-MM-DD, not 10000 characters.",
            "start",
        ),
        (
            {"start": "2026-10-05", "end": " 2026-10-05"},
            "'end' must be a date as YYYY-MM-DD, not 11 characters.",
            "end",
        ),
        (
            {"granularity": "w" * 11},
            "'granularity' must be week or month, not 11 characters.",
            "granularity",
        ),
        # A control character is never repeated.
        (
            {"start": "2026-10-0\x00"},
            "'start' must be a date as YYYY-MM-DD, not a text with control characters.",
            "start",
        ),
        (
            {"granularity": "week\x1b[2J"},
            "'granularity' must be week or month, not a text with control characters.",
            "granularity",
        ),
    ],
)
def test_refusals_say_what_is_wrong(params: dict[str, str], message: str, field: str) -> None:
    error = refusal(**params)
    assert error.status == 400
    assert error.message == message
    assert list(error.fields) == [field]


def test_a_long_value_is_refused_before_it_is_read() -> None:
    # Even where the other parameter alone would already be wrong: the length is checked first,
    # so the page, the CSV and the API all give this one message.
    error = refusal(start="2026-13-01" + " " * 9_990, granularity="week")
    assert error.message == "'start' must be a date as YYYY-MM-DD, not 10000 characters."
    assert error.fields == {"start": ["A date as YYYY-MM-DD."]}
    # Blank within the bound is absent, as before.
    assert period(start=" " * 10, granularity=" ") == period()


def test_the_previous_period_and_buckets_cross_a_dst_change() -> None:
    autumn = period(start="2026-10-05", end="2026-11-01")
    assert autumn.previous() == Period(date(2026, 9, 7), date(2026, 10, 4), "week", ZONE)
    # 28 days, but 28 days and one hour of clock time: Brussels leaves summer time on 25 October.
    elapsed = autumn.end_at.astimezone(UTC) - autumn.start_at.astimezone(UTC)
    assert elapsed.total_seconds() == (28 * 24 + 1) * 3600
    assert autumn.start_at.isoformat() == "2026-10-05T00:00:00+02:00"
    assert autumn.end_at.isoformat() == "2026-11-02T00:00:00+01:00"
