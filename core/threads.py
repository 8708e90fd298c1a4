"""Waiting on a thread for a while, in steps of `time.sleep`.

`Thread.join(timeout)` and `Event.wait(timeout)` wait on a lock with a deadline on the
monotonic clock (CPython's `sem_clockwait`), which libfaketime does not shift while it shifts
the clock: under `make test-clock` such a wait lasts as long as the shift (hours), not its
timeout. `time.sleep` is shifted with the clock, so a wait made of short sleeps holds there as
everywhere."""

import threading
import time

STEP_S = 0.02


def join_for(thread: threading.Thread, seconds: float) -> bool:
    """Wait up to `seconds` for `thread` to end; True while it still runs."""
    for _ in range(max(1, round(seconds / STEP_S))):
        if not thread.is_alive():
            return False
        time.sleep(STEP_S)
    return thread.is_alive()
