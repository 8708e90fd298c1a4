"""The link check: how well each person's socket reaches the relay, measured by the relay.

Every COCKPIT_LINK_PROBE_S the relay sends a person's socket a `probe` reply `{"id": n}`; the
client echoes it at once (`echo` frame `{"probe": n}`), and the relay times the round trip on its
own monotonic clock (`link_clock`, which tests replace). One probe is out at a time (a slow
echo is waited for, up to the control timeout), and at one a second the echoes stay well inside
a person's frame bucket (settings.COCKPIT_PERSON_FRAMES: 5 a second).

Per socket the last LINK_WINDOW round trips are kept: the round-trip time is their median (one
late packet does not move it), the jitter the mean absolute difference of consecutive round trips
(RFC 3550's interarrival jitter, without its smoothing). Each figure is placed on a level:

- `ok`: up to COCKPIT_LINK_WARN (150 ms RTT, 30 ms jitter): remote work feels local;
- `warn`: up to COCKPIT_LINK_REFUSE (400 ms RTT, 100 ms jitter): usable, but a remote STOP or
  a parameter change arrives late and the live console stutters: both screens say so;
- `refuse`: beyond it (ITU-T G.114 calls 400 ms one way unusable for interactive work; 100 ms of
  jitter reorders a console's rhythm): the exam does not start under this controller.

The relay tells the session (a numbered `link` event) when a socket's level changes or its
figures move noticeably (`link_noticeable`), never once per probe.

The same probes bound what a person's socket may leave unread (`Backlog`). Daphne's send never
blocks: what a client does not read piles up in the server's buffer without bound, so the relay
counts the bytes it sent each socket and, at each probe, remembers how many; an echo says the
client read everything up to that probe. A socket whose unacknowledged bytes exceed
COCKPIT_SOCKET_WINDOW_BYTES while its oldest unanswered probe is older than SHED_AFTER_S is shed:
it is sent no more events (once logged, counted in `shed_total`) until it echoes again, and then
it catches up from the last seq it was sent (the history, or a snapshot that says `shed`).
The window: a console at 10 Hz sends 3-4 KB a second (8 KB with the bench's larger states), and a
reader that keeps up acknowledges every probe interval, so its backlog stays under ~16 KB; 64 KiB
is four times that, some 8-16 s of console, so a link that stutters for a few seconds is not cut
off, while a stalled one holds at most that much in the server per socket (300 sockets: ~20 MB).
The scanner's socket is not probed and never shed (it receives only commands and STOPs).
"""

import itertools
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

OK = "ok"
WARN = "warn"
REFUSE = "refuse"
LEVELS = (OK, WARN, REFUSE)

LINK_WINDOW = 10  # round trips kept per socket

# The relay's clock for round trips (seconds, monotonic; one process's own).
link_clock: Callable[[], float] = time.monotonic


def link_probe_s() -> float:
    """Seconds between two probes of a socket; 0 turns the link check off (no probes, no watch
    for silent controllers: the test suite's sockets do not echo)."""
    return float(settings.COCKPIT_LINK_PROBE_S)


# A reader is shed only once its oldest unanswered probe is this old (a few probe intervals).
SHED_AFTER_S = 3.0
SOCKET_WINDOW_BYTES = 64 * 1024

# Sockets shed by this process so far (the log says each once).
shed_total = 0


def socket_window_bytes() -> int:
    """The bytes a person's socket may leave unacknowledged before it may be shed."""
    return int(getattr(settings, "COCKPIT_SOCKET_WINDOW_BYTES", SOCKET_WINDOW_BYTES))


@dataclass
class Backlog:
    """What one socket was sent and what its echoes acknowledged (bytes)."""

    window: int = SOCKET_WINDOW_BYTES
    sent: int = 0
    acked: int = 0
    marks: dict[int, tuple[int, float]] = field(default_factory=dict)  # probe id: (sent, at)
    shed: bool = False

    def probed(self, probe_id: int, now: float) -> None:
        self.marks[probe_id] = (self.sent, now)
        if len(self.marks) > 64:  # never echoed: the oldest stays, the rest need not
            del self.marks[sorted(self.marks)[1]]

    def echoed(self, probe_id: int) -> None:
        """An echo of `probe_id` (late or not): everything sent before it was read."""
        mark = self.marks.get(probe_id)
        if mark is None:
            return
        self.acked = max(self.acked, mark[0])
        for older in [key for key in self.marks if key <= probe_id]:
            del self.marks[older]

    def over(self, now: float) -> bool:
        """Whether the socket is too far behind to go on sending to it."""
        if self.sent - self.acked <= self.window or not self.marks:
            return False
        return now - min(at for _, at in self.marks.values()) > SHED_AFTER_S


def watchdog_tick_s() -> float:
    """How often the watchdog looks for a silent controller: often enough that control falls
    back within the timeout, not a probe interval after it."""
    return min(link_probe_s(), 0.25)


def control_link_timeout_s() -> float:
    """Silence (nothing heard from any of their sockets) after which a remote controller has
    lost their link and control falls back to local staff."""
    return float(settings.COCKPIT_CONTROL_LINK_TIMEOUT_S)


def link_level(rtt_ms: float, jitter_ms: float) -> str:
    """The level of a link's figures (the worse of the two)."""
    refuse = settings.COCKPIT_LINK_REFUSE
    warn = settings.COCKPIT_LINK_WARN
    if rtt_ms > refuse["rtt_ms"] or jitter_ms > refuse["jitter_ms"]:
        return REFUSE
    if rtt_ms > warn["rtt_ms"] or jitter_ms > warn["jitter_ms"]:
        return WARN
    return OK


# Figures that only moved (same level) are told at most this often per socket: on a busy
# server every round trip wanders, and each telling is an event to everyone in the session
# (bench_cockpit counted link events at 13 % of all events before this).
LINK_TELL_EVERY_S = 5.0


def link_noticeable(
    before: dict[str, Any] | None,
    after: dict[str, Any],
    *,
    told_at: float | None = None,
    now: float | None = None,
) -> bool:
    """Whether the session is told of new figures: the first ones, a change of level (at
    once), or a move of a quarter and at least 20 ms in RTT (10 ms in jitter) since the figures
    last told, at least LINK_TELL_EVERY_S after that telling (`told_at`, `now`: link_clock)."""
    if before is None or before["level"] != after["level"]:
        return True
    if told_at is not None and now is not None and now - told_at < LINK_TELL_EVERY_S:
        return False
    for key, floor in (("rtt_ms", 20.0), ("jitter_ms", 10.0)):
        moved = abs(after[key] - before[key])
        if moved >= floor and moved >= 0.25 * max(before[key], 1.0):
            return True
    return False


@dataclass
class LinkMeter:
    """One socket's probes and round trips."""

    rtts: deque[float] = field(default_factory=lambda: deque(maxlen=LINK_WINDOW))
    probe_id: int = 0
    out: tuple[int, float] | None = None  # the probe awaiting its echo: id, sent at

    def due(self, now: float, *, give_up_after: float) -> int | None:
        """The id of the probe to send now, or None while one is out. A late echo still counts
        (a link whose round trip grew to seconds shows as such); a probe unanswered for
        `give_up_after` seconds is given up, and a new one goes."""
        if self.out is not None and now - self.out[1] < give_up_after:
            return None
        self.probe_id += 1
        self.out = (self.probe_id, now)
        return self.probe_id

    def echoed(self, probe_id: int, now: float) -> bool:
        """An echo: True when it answers the probe out (its round trip is counted)."""
        if self.out is None or self.out[0] != probe_id:
            return False
        self.rtts.append(max(0.0, now - self.out[1]) * 1000)
        self.out = None
        return True

    def figures(self, now: float | None = None) -> dict[str, Any] | None:
        """`rtt_ms`, `jitter_ms` and `level`; None before the first round trip. At `now`, a probe
        still unanswered counts too: the round trip is at least its age, so a link that stops
        answering does not go on showing its last good figures."""
        if not self.rtts:
            return None
        rtts = list(self.rtts)
        rtt = statistics.median(rtts)
        if now is not None and self.out is not None:
            rtt = max(rtt, (now - self.out[1]) * 1000)
        jitter = (
            statistics.fmean(abs(b - a) for a, b in itertools.pairwise(rtts))
            if len(rtts) > 1
            else 0.0
        )
        rtt, jitter = round(rtt, 1), round(jitter, 1)
        return {"rtt_ms": rtt, "jitter_ms": jitter, "level": link_level(rtt, jitter)}
