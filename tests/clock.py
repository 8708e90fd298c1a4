"""A clock a test moves by hand, for the code that takes one (rate limits, presence)."""


class ManualClock:
    """Seconds, as `time.monotonic()` would answer; the test sets or adds to `now`."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
