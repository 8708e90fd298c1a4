"""Token buckets: a steady rate with room for a burst, on a clock the caller gives (tests give a
frozen one; nothing here reads the wall clock itself).

A bucket holds up to `burst` tokens and gains `per_second` of them a second; each request takes
one, and a request that finds less than one is refused with how long until there is one. The
buckets are kept in this process, one per key; a bucket that has filled up again is the same as
none, so idle keys are dropped once there are many.

A socket's sender is told once per refill interval (`admit`): a flood of frames at an empty bucket
gets one `rate_limited` answer until the next token is due, not one answer per frame (answering
each would cost the server as much as the frames themselves).
"""

import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext

from core.errors import RateLimited


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int

    @classmethod
    def of(cls, setting: Mapping[str, Any]) -> "Rate":
        """A rate from a setting such as `{"per_second": 5, "burst": 20}`."""
        return cls(per_second=float(setting["per_second"]), burst=int(setting["burst"]))

    def describe(self) -> str:
        return gettext("at most %(rate)s a second, in bursts of %(burst)s") % {
            "rate": f"{self.per_second:g}",
            "burst": self.burst,
        }


class TokenBuckets:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000):
        self.clock = clock
        self.max_keys = max_keys
        # tokens, at, full again, told until (the sender was told of a refusal until then)
        self._buckets: dict[Hashable, tuple[float, float, float, float]] = {}

    def take(self, key: Hashable, rate: Rate, *, what: str) -> None:
        """Take a token from `key`'s bucket, or raise RateLimited saying that `what` (a plural:
        "frames") come too fast, and in how many seconds the next is taken."""
        self._take(key, rate, what=what, quiet=False)

    def admit(self, key: Hashable, rate: Rate, *, what: str) -> bool:
        """`take` for a socket: True when a token was taken; when the bucket is empty, raise
        RateLimited the first time in a refill interval (until the next token is due), and
        return False (drop the frame without a word) for the refusals after it."""
        return self._take(key, rate, what=what, quiet=True)

    def _take(self, key: Hashable, rate: Rate, *, what: str, quiet: bool) -> bool:
        now = self.clock()
        tokens, at, _, told_until = self._buckets.get(key, (float(rate.burst), now, now, now))
        tokens = min(float(rate.burst), tokens + max(0.0, now - at) * rate.per_second)
        taken = tokens >= 1
        if taken:
            tokens -= 1
            if key not in self._buckets and len(self._buckets) >= self.max_keys:
                self._sweep(now)
        retry_after = max(0.001, round((1 - tokens) / rate.per_second, 3))
        tell = not taken and (not quiet or now >= told_until)
        if tell:
            told_until = now + retry_after
        self._buckets[key] = (
            tokens,
            now,
            now + (rate.burst - tokens) / rate.per_second,
            told_until,
        )
        if tell:
            raise RateLimited(
                gettext("Too many %(what)s: %(rate)s. Try again in %(seconds)s s.")
                % {"what": what, "rate": rate.describe(), "seconds": f"{retry_after:g}"},
                retry_after=retry_after,
            )
        return taken

    def reset(self) -> None:
        self._buckets.clear()

    def __contains__(self, key: Hashable) -> bool:
        """Whether `key` has a bucket kept (one that has filled up again may have been let go)."""
        return key in self._buckets

    def _sweep(self, now: float) -> None:
        """Drop the buckets that have filled up again (a full bucket is as good as none)."""
        for key, (_, _, full_again, _) in list(self._buckets.items()):
            if now >= full_again:
                del self._buckets[key]
