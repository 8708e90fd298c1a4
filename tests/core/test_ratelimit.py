"""Token buckets on a clock the test moves: a burst, then the steady rate, and idle keys let go."""

import pytest

from core.errors import RateLimited
from core.ratelimit import Rate, TokenBuckets

RATE = Rate(per_second=2, burst=3)


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_steady_rate_and_how_long_to_wait() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock=clock)
    for _ in range(3):
        buckets.take("ana", RATE, what="lines")
    with pytest.raises(RateLimited) as refused:
        buckets.take("ana", RATE, what="lines")
    assert refused.value.message == (
        "Too many lines: at most 2 a second, in bursts of 3. Try again in 0.5 s."
    )
    assert (refused.value.code, refused.value.status, refused.value.retry_after) == (
        "rate_limited",
        429,
        0.5,
    )
    buckets.take("bob", RATE, what="lines")  # everyone has a bucket of their own
    clock.now += 0.3
    with pytest.raises(RateLimited) as refused:
        buckets.take("ana", RATE, what="lines")
    assert refused.value.retry_after == 0.2
    clock.now += 0.2
    buckets.take("ana", RATE, what="lines")
    # However long the wait, the bucket holds a burst at most.
    clock.now += 3600
    for _ in range(3):
        buckets.take("ana", RATE, what="lines")
    with pytest.raises(RateLimited):
        buckets.take("ana", RATE, what="lines")


def test_only_buckets_that_filled_up_again_are_let_go() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock=clock, max_keys=2)
    buckets.take("ana", RATE, what="lines")
    for _ in range(3):
        buckets.take("bob", RATE, what="lines")
    clock.now += 1.0  # ana's bucket is full again (1 token short, 0.5 s); bob's is not (1.5 s)
    buckets.take("cyd", RATE, what="lines")
    assert ("ana" in buckets, "bob" in buckets, "cyd" in buckets) == (False, True, True)
    for _ in range(2):
        buckets.take("bob", RATE, what="lines")
    with pytest.raises(RateLimited):
        buckets.take("bob", RATE, what="lines")


def test_a_socket_is_told_once_per_refill_interval_and_its_other_refusals_dropped() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock=clock)
    assert [buckets.admit("ana", RATE, what="frames") for _ in range(3)] == [True] * 3
    with pytest.raises(RateLimited) as refused:
        buckets.admit("ana", RATE, what="frames")
    assert refused.value.retry_after == 0.5
    # Until the next token is due, a flood is dropped without an answer each.
    assert [buckets.admit("ana", RATE, what="frames") for _ in range(1000)] == [False] * 1000
    clock.now += 0.4
    assert buckets.admit("ana", RATE, what="frames") is False
    clock.now += 0.1
    assert buckets.admit("ana", RATE, what="frames") is True  # the token that was due
    with pytest.raises(RateLimited) as refused:
        buckets.admit("ana", RATE, what="frames")  # told again: a new interval
    assert refused.value.retry_after == 0.5
    assert buckets.admit("ana", RATE, what="frames") is False
    # `take` (one request, one answer) still answers every refusal.
    with pytest.raises(RateLimited):
        buckets.take("ana", RATE, what="frames")
