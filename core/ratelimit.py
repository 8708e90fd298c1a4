"""Token buckets: a steady rate with room for a burst, on a clock the caller gives (tests give a
frozen one; nothing here reads the wall clock itself).

A bucket holds up to `burst` tokens and gains `per_second` of them a second; each request takes
one, and a request that finds less than one is refused with how long until there is one. The
buckets are kept in this process, one per key; a bucket that has filled up again is the same as
none, so idle keys are dropped once there are many.
"""

import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

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
        per_second = f"{self.per_second:g}"
        return f"at most {per_second} a second, in bursts of {self.burst}"


class TokenBuckets:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000):
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[Hashable, tuple[float, float, float]] = {}  # tokens, at, full again

    def take(self, key: Hashable, rate: Rate, *, what: str) -> None:
        """Take a token from `key`'s bucket, or raise RateLimited saying that `what` (a plural:
        "frames") come too fast, and in how many seconds the next is taken."""
        now = self.clock()
        tokens, at, _ = self._buckets.get(key, (float(rate.burst), now, now))
        tokens = min(float(rate.burst), tokens + max(0.0, now - at) * rate.per_second)
        taken = tokens >= 1
        if taken:
            tokens -= 1
            if key not in self._buckets and len(self._buckets) >= self.max_keys:
                self._sweep(now)
        self._buckets[key] = (tokens, now, now + (rate.burst - tokens) / rate.per_second)
        if not taken:
            retry_after = max(0.001, round((1 - tokens) / rate.per_second, 3))
            raise RateLimited(
                f"Too many {what}: {rate.describe()}. Try again in {retry_after:g} s.",
                retry_after=retry_after,
            )

    def reset(self) -> None:
        self._buckets.clear()

    def __contains__(self, key: Hashable) -> bool:
        """Whether `key` has a bucket kept (one that has filled up again may have been let go)."""
        return key in self._buckets

    def _sweep(self, now: float) -> None:
        """Drop the buckets that have filled up again (a full bucket is as good as none)."""
        for key, (_, _, full_again) in list(self._buckets.items()):
            if now >= full_again:
                del self._buckets[key]
