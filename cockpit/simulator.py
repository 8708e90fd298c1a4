"""A deterministic MRI console simulator: pure Python, no I/O, no wall clock.

The scanner agent (`cockpit.agent`) runs one `Console` per cockpit session and publishes its
`state()` to the relay; the cockpit page renders that state. Time is passed in (`now`, seconds on
any monotonic clock); random events (alarms) come from a `random.Random` seeded with `seed`, so the
same protocol, seed, commands and ticks always give the same states.

    console = Console("neuro", seed=42, now=0.0)
    console.apply("start", {}, now=1.0)        # -> Result(ok=True, reason="")
    console.tick(11.0)                         # ten seconds of scanning
    console.apply("move_table", {"position_mm": 5000}, now=11.5)
    # -> Result(ok=False, reason="The table cannot move while a sequence is running; ...")
    console.state()                            # the dict below

State (`Console.state()`, JSON-serialisable, floats rounded; the page reads these keys):

    protocol        str    protocol code: "neuro", "cardiac", "msk", "spine", "abdominal",
                           "prostate", "breast"
    protocol_name   str    e.g. "Brain (routine with contrast)"
    status          str    "idle"             nothing running; `start` runs the current sequence
                           "running"          the current sequence is acquiring
                           "paused"           paused by `pause`, the squeeze ball or the SAR monitor
                           "waiting_contrast" contrast requested, local staff must confirm it
                           "stopped"          STOP pressed; the sequence that ran is aborted
                           "finished"         every sequence is done or aborted (the operator may
                                              close the exam; `start` may still rescan the last one)
    current         int    index into `sequences` of the current sequence
    sequences       list   [{"name": str, "duration_s": float, "status": "pending" | "running" |
                           "paused" | "done" | "aborted", "progress": 0.0..1.0 (3 decimals),
                           "contrast": bool (needs contrast given)}]
    table_mm        float  table position (1 decimal)
    table_range_mm  [float, float]   where the table can go
    coil            str    e.g. "Head/Neck 20"
    sar             {"level": W/kg predicted for the current sequence's parameters (2 decimals),
                     "limit": W/kg (head 3.2, whole body 2.0, extremity 4.0)}
                           level <= limit always holds: changes that would exceed it are refused
    alarms          list   [{"code": "squeeze_ball" | "motion" | "sar_exceeded", "message": str}]
                           squeeze_ball pauses the scan (cleared by `resume`); motion is a warning
                           for the running sequence; sar_exceeded (the SAR monitor tripped on a
                           sequence run close to its limit) pauses the scan until a parameter
                           change lowers SAR (which restarts the sequence) or it is aborted. All
                           are cleared when the run of their sequence ends.
    contrast        str    "none" | "requested" (waiting for local staff) | "confirmed" (local
                           staff confirmed, injected when the next contrast sequence starts) |
                           "injected"
    parameters      {"tr_ms", "te_ms", "flip_angle_deg", "slice_thickness_mm", "slices"}
                           of the current sequence (slices is an int)
    limits          {parameter: [min, max]} for the current sequence
    elapsed_s       float  seconds acquired so far (done sequences in full, others in part)
    remaining_s     float  seconds still to acquire (sequences neither done nor aborted)
    message         str    the console's latest message, for people ("T1 sagittal done.")

Commands (`Console.apply(name, args, now=...)`, each answered by `Result(ok, reason)`; a refused
command changes nothing):

    start              start (or restart) the current sequence; needs contrast given for a
                       contrast sequence
    pause / resume     the running sequence; `resume` acknowledges a squeeze-ball alarm
    abort              abort the running or paused sequence (it stays current: `start` rescans,
                       `next_sequence` moves on)
    next_sequence      skip to the next sequence (the current one, unless done, is aborted)
    adjust             {"parameter": one of the parameters, "value": number} within `limits`, TE
                       below TR, SAR within its limit; not while the sequence runs (on a paused
                       one, it restarts from the beginning); TR and slices change the duration
    move_table         {"position_mm": number} within `table_range_mm`, not during a sequence
    request_contrast   the current or a later sequence needs contrast: ask local staff
    confirm_contrast   local staff confirm the contrast the operator asked for
    stop               STOP: always accepted; aborts whatever runs
"""

import copy
import math
import random
from dataclasses import dataclass
from typing import Any, NamedTuple

PARAMETERS = ("tr_ms", "te_ms", "flip_angle_deg", "slice_thickness_mm", "slices")
TABLE_RANGE_MM = (0.0, 2000.0)
# Alarms: a mean of one every this many seconds of scanning, never sooner than the gap after the
# last one (so that a sequence visibly runs before the first one).
ALARM_MEAN_S = 150.0
ALARM_MIN_GAP_S = 20.0
# The SAR monitor can trip only on a sequence run this close to its limit.
SAR_MONITOR_THRESHOLD = 0.85
_EPSILON = 1e-9


@dataclass(frozen=True)
class SequenceSpec:
    """One sequence of a protocol as planned: base duration, default parameters, and its
    predicted SAR at those parameters."""

    name: str
    duration_s: float
    tr_ms: float
    te_ms: float
    flip_angle_deg: float
    slice_thickness_mm: float
    slices: int
    sar: float
    contrast: bool = False

    def parameters(self) -> dict[str, float]:
        return {
            "tr_ms": self.tr_ms,
            "te_ms": self.te_ms,
            "flip_angle_deg": self.flip_angle_deg,
            "slice_thickness_mm": self.slice_thickness_mm,
            "slices": self.slices,
        }

    def limits(self) -> dict[str, tuple[float, float]]:
        """Half to twice the planned value (flip angle: half to one and a half, at most 180°)."""
        return {
            "tr_ms": (_r(self.tr_ms * 0.5, 2), _r(self.tr_ms * 2, 2)),
            "te_ms": (_r(self.te_ms * 0.5, 2), _r(self.te_ms * 2, 2)),
            "flip_angle_deg": (
                _r(max(1.0, self.flip_angle_deg * 0.5), 1),
                _r(min(180.0, self.flip_angle_deg * 1.5), 1),
            ),
            "slice_thickness_mm": (
                _r(max(0.5, self.slice_thickness_mm * 0.5), 1),
                _r(self.slice_thickness_mm * 2, 1),
            ),
            "slices": (float(max(1, self.slices // 2)), float(self.slices * 2)),
        }

    def sar_at(self, parameters: dict[str, float]) -> float:
        """SAR grows with the square of the flip angle and the number of slices per TR, and
        falls as TR lengthens."""
        return (
            self.sar
            * (parameters["flip_angle_deg"] / self.flip_angle_deg) ** 2
            * (self.tr_ms / parameters["tr_ms"])
            * (parameters["slices"] / self.slices)
        )

    def duration_at(self, parameters: dict[str, float]) -> float:
        """Scan time grows with TR, and with slices beyond what one TR holds (the plan's)."""
        return (
            self.duration_s
            * (parameters["tr_ms"] / self.tr_ms)
            * max(1.0, parameters["slices"] / self.slices)
        )


@dataclass(frozen=True)
class Protocol:
    code: str
    name: str
    coil: str
    sar_limit: float
    table_mm: float  # where local staff positioned the table (the anatomy at isocentre)
    sequences: tuple[SequenceSpec, ...]


def _localiser(sar: float = 0.1) -> SequenceSpec:
    return SequenceSpec("3-plane localiser", 20, 8.6, 4.0, 20, 8.0, 9, sar)


PROTOCOLS: dict[str, Protocol] = {
    protocol.code: protocol
    for protocol in (
        Protocol(
            "neuro",
            "Brain (routine with contrast)",
            "Head/Neck 20",
            3.2,
            1450.0,
            (
                _localiser(),
                SequenceSpec("T1 sagittal", 75, 500, 10, 90, 5.0, 19, 1.1),
                SequenceSpec("T2 TSE axial", 90, 4000, 100, 150, 5.0, 25, 2.2),
                SequenceSpec("T2 FLAIR axial", 110, 9000, 85, 150, 5.0, 25, 1.6),
                SequenceSpec("DWI axial b1000", 60, 5000, 80, 90, 5.0, 25, 0.9),
                SequenceSpec("SWI axial", 100, 27, 20, 15, 2.0, 72, 0.2),
                SequenceSpec("T1 MPRAGE post-contrast", 120, 2300, 2.3, 9, 1.0, 176, 0.3, True),
            ),
        ),
        Protocol(
            "cardiac",
            "Cardiac (function and late enhancement)",
            "Body 18 + Spine 32",
            2.0,
            1150.0,
            (
                _localiser(0.2),
                SequenceSpec("cine SSFP 2-chamber", 40, 3.0, 1.5, 60, 8.0, 1, 1.4),
                SequenceSpec("cine SSFP 4-chamber", 40, 3.0, 1.5, 60, 8.0, 1, 1.4),
                SequenceSpec("cine SSFP short axis", 110, 3.0, 1.5, 60, 8.0, 12, 1.5),
                SequenceSpec("T2 STIR black blood", 60, 1800, 60, 150, 8.0, 3, 1.2),
                SequenceSpec("first-pass perfusion", 60, 2.5, 1.1, 12, 8.0, 3, 0.3, True),
                SequenceSpec("LGE PSIR short axis", 100, 700, 3.2, 25, 8.0, 12, 0.4, True),
            ),
        ),
        Protocol(
            "msk",
            "Knee (routine)",
            "Knee 15ch Tx/Rx",
            4.0,
            550.0,
            (
                _localiser(),
                SequenceSpec("PD FS sagittal", 90, 3000, 35, 150, 3.0, 30, 2.4),
                SequenceSpec("PD coronal", 75, 2800, 30, 150, 3.0, 28, 2.2),
                SequenceSpec("T1 coronal", 70, 550, 11, 90, 3.0, 28, 1.5),
                SequenceSpec("T2 FS axial", 80, 4200, 60, 150, 3.5, 30, 2.0),
            ),
        ),
        Protocol(
            "spine",
            "Lumbar spine (routine)",
            "Spine 32",
            2.0,
            1000.0,
            (
                _localiser(),
                SequenceSpec("T2 TSE sagittal", 90, 3500, 95, 150, 4.0, 15, 1.3),
                SequenceSpec("T1 TSE sagittal", 80, 600, 10, 150, 4.0, 15, 1.2),
                SequenceSpec("STIR sagittal", 100, 4000, 60, 150, 4.0, 15, 1.1),
                SequenceSpec("T2 TSE axial", 110, 4200, 100, 150, 4.0, 24, 1.4),
            ),
        ),
        Protocol(
            "abdominal",
            "Liver (dynamic contrast)",
            "Body 18 + Spine 32",
            2.0,
            1100.0,
            (
                _localiser(0.2),
                SequenceSpec("T2 HASTE coronal (breath-hold)", 30, 1400, 90, 150, 6.0, 25, 1.5),
                SequenceSpec("T2 TSE FS axial", 110, 3000, 85, 150, 6.0, 30, 1.3),
                SequenceSpec("DWI axial b50/400/800", 120, 6000, 60, 90, 6.0, 30, 0.8),
                SequenceSpec("T1 in/opposed phase", 25, 150, 2.4, 70, 6.0, 30, 1.0),
                SequenceSpec("T1 VIBE arterial phase", 25, 4.0, 1.9, 10, 3.0, 72, 0.5, True),
                SequenceSpec("T1 VIBE portal venous", 25, 4.0, 1.9, 10, 3.0, 72, 0.5, True),
                SequenceSpec("T1 VIBE delayed", 25, 4.0, 1.9, 10, 3.0, 72, 0.5, True),
            ),
        ),
        Protocol(
            "prostate",
            "Prostate (multiparametric)",
            "Body 18 + Spine 32",
            2.0,
            850.0,
            (
                _localiser(),
                SequenceSpec("T2 TSE axial", 110, 4500, 100, 150, 3.0, 26, 1.4),
                SequenceSpec("T2 TSE sagittal", 100, 4000, 100, 150, 3.0, 24, 1.3),
                SequenceSpec("DWI axial b1400", 120, 4800, 70, 90, 3.0, 20, 0.9),
                SequenceSpec("DCE T1 axial", 120, 4.5, 1.8, 12, 3.0, 20, 0.5, True),
            ),
        ),
        Protocol(
            "breast",
            "Breast (dynamic contrast)",
            "Breast 16",
            2.0,
            1200.0,
            (
                _localiser(),
                SequenceSpec("T2 TSE axial", 100, 5000, 90, 150, 3.0, 50, 1.4),
                SequenceSpec("DWI axial", 110, 6000, 70, 90, 4.0, 36, 0.9),
                SequenceSpec("T1 dynamic pre-contrast", 60, 4.8, 1.7, 10, 1.5, 120, 0.4),
                SequenceSpec("T1 dynamic post-contrast", 120, 4.8, 1.7, 10, 1.5, 120, 0.4, True),
            ),
        ),
    )
}
# The lead's starter named the protocol codes this; kept for anyone who imported it.
PROTOCOL_FAMILIES = tuple(PROTOCOLS)
# Exam family codes (marketplace.ExamFamily) -> protocol.
FAMILY_PROTOCOLS = {
    "neuro": "neuro",
    "head-neck": "neuro",
    "cardiac": "cardiac",
    "msk": "msk",
    "spine": "spine",
    "abdominal": "abdominal",
    "pelvis-prostate": "prostate",
    "breast": "breast",
}


def protocol_for(family_codes: list[str]) -> str:
    """The protocol for a posting's exam families: the first family that has one; neuro else."""
    for code in family_codes:
        if code in FAMILY_PROTOCOLS:
            return FAMILY_PROTOCOLS[code]
    return "neuro"


class Result(NamedTuple):
    ok: bool
    reason: str = ""


ACCEPTED = Result(True)


def _refused(reason: str) -> Result:
    return Result(False, reason)


ALARM_MESSAGES = {
    "squeeze_ball": "The patient pressed the squeeze ball: scan paused. Talk to the patient.",
    "motion": "Motion detected: images may be degraded; consider a rescan.",
    "sar_exceeded": "SAR monitor tripped: scan paused. Lower the flip angle or lengthen TR.",
}


@dataclass
class _Run:
    """A sequence as the console holds it: the plan, the parameters now, what was acquired."""

    spec: SequenceSpec
    parameters: dict[str, float]
    status: str = "pending"
    acquired_s: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.spec.duration_at(self.parameters)

    @property
    def progress(self) -> float:
        return min(1.0, self.acquired_s / self.duration_s)

    @property
    def sar(self) -> float:
        return self.spec.sar_at(self.parameters)


@dataclass
class _Alarm:
    code: str
    message: str


class Console:
    """One scanner's console running one protocol. See the module docstring."""

    def __init__(
        self,
        protocol: "str | Protocol",
        *,
        seed: int | str = 0,
        now: float = 0.0,
        alarms: bool = True,
    ) -> None:
        if isinstance(protocol, str):
            if protocol not in PROTOCOLS:
                raise ValueError(
                    f"Unknown protocol '{protocol}'; expected one of: {', '.join(PROTOCOLS)}."
                )
            protocol = PROTOCOLS[protocol]
        self.protocol: Protocol = protocol
        self.seed = seed
        self.now = float(now)
        self.alarms_enabled = alarms
        self.runs = [_Run(spec, dict(spec.parameters())) for spec in protocol.sequences]
        self.current = 0
        self.status = "idle"
        self.table_mm = protocol.table_mm
        self.contrast = "none"
        self.alarms: list[_Alarm] = []
        self.message = f"{protocol.name}: ready. Patient positioned, {protocol.coil} coil."
        self._rng = random.Random(seed)
        # Seconds of scanning until the next random alarm.
        self._next_alarm_in = self._draw_alarm_gap()

    # --- Time -------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Advance the console to `now` (a clock that never goes back: an earlier `now` is
        ignored). The running sequence acquires; it finishes, or an alarm fires, at its exact
        moment, whatever the tick rate."""
        now = float(now)
        if now <= self.now:
            return
        left = now - self.now
        while self.status == "running" and left > _EPSILON:
            run = self.runs[self.current]
            step = min(left, run.duration_s - run.acquired_s, self._next_alarm_in)
            run.acquired_s += step
            left -= step
            self._next_alarm_in -= step
            if run.acquired_s >= run.duration_s - _EPSILON:
                run.acquired_s = run.duration_s
                self._complete(run)
            elif self._next_alarm_in <= _EPSILON:
                self._fire_alarm(run)
        self.now = now

    def _draw_alarm_gap(self) -> float:
        if not self.alarms_enabled:
            return math.inf
        return ALARM_MIN_GAP_S + self._rng.expovariate(1.0 / ALARM_MEAN_S)

    def _fire_alarm(self, run: _Run) -> None:
        self._next_alarm_in = self._draw_alarm_gap()
        draw = self._rng.random()
        if draw < 0.35 and run.sar >= SAR_MONITOR_THRESHOLD * self.protocol.sar_limit:
            code = "sar_exceeded"
        elif draw < 0.55:
            code = "squeeze_ball"
        else:
            code = "motion"
        if any(alarm.code == code for alarm in self.alarms):
            return
        self.alarms.append(_Alarm(code, ALARM_MESSAGES[code]))
        self.message = ALARM_MESSAGES[code]
        if code in ("squeeze_ball", "sar_exceeded"):
            run.status = "paused"
            self.status = "paused"

    def _complete(self, run: _Run) -> None:
        run.status = "done"
        self.alarms = []
        self.message = f"{run.spec.name} done."
        if self.current + 1 < len(self.runs):
            self.current += 1
            self.status = "idle"
            upcoming = self.runs[self.current]
            if upcoming.spec.contrast and self.contrast not in ("confirmed", "injected"):
                self.message += f" {upcoming.spec.name} needs contrast: request it."
        else:
            self.status = "finished"
            self.message += " Protocol finished: the operator may close the exam."

    # --- Commands ---------------------------------------------------------------------------

    def apply(self, name: str, args: dict[str, Any] | None = None, *, now: float) -> Result:
        """Advance to `now`, then carry the command out, or refuse it (changing nothing) with a
        reason a technologist understands."""
        self.tick(now)
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            return _refused(f"Unknown command '{name}'.")
        if args is not None and not isinstance(args, dict):
            return _refused("Command arguments are an object.")
        result: Result = handler(args or {})
        return result

    def _cmd_start(self, args: dict[str, Any]) -> Result:
        run = self.runs[self.current]
        if self.status in ("running", "paused"):
            return _refused(f"{run.spec.name} is already {self.status}: abort it to rescan.")
        if self.status == "waiting_contrast":
            return _refused("Waiting for local staff to confirm contrast.")
        if run.spec.contrast and self.contrast not in ("confirmed", "injected"):
            return _refused(
                f"{run.spec.name} needs contrast: request it and wait for local staff to confirm."
            )
        restart = run.status != "pending"
        run.status = "running"
        run.acquired_s = 0.0
        self.status = "running"
        self.alarms = []
        self.message = f"{'Rescanning' if restart else 'Running'} {run.spec.name}."
        if run.spec.contrast and self.contrast == "confirmed":
            self.contrast = "injected"
            self.message += " Contrast injected."
        return ACCEPTED

    def _cmd_pause(self, args: dict[str, Any]) -> Result:
        if self.status != "running":
            return _refused("Nothing is running to pause.")
        run = self.runs[self.current]
        run.status = "paused"
        self.status = "paused"
        self.message = f"{run.spec.name} paused."
        return ACCEPTED

    def _cmd_resume(self, args: dict[str, Any]) -> Result:
        if self.status != "paused":
            return _refused("Nothing is paused to resume.")
        if any(alarm.code == "sar_exceeded" for alarm in self.alarms):
            return _refused(
                "The SAR monitor tripped: lower the flip angle or lengthen TR (the sequence "
                "restarts), or abort it."
            )
        run = self.runs[self.current]
        run.status = "running"
        self.status = "running"
        self.alarms = [alarm for alarm in self.alarms if alarm.code != "squeeze_ball"]
        self.message = f"{run.spec.name} resumed."
        return ACCEPTED

    def _cmd_abort(self, args: dict[str, Any]) -> Result:
        if self.status not in ("running", "paused"):
            return _refused("Nothing is running to abort.")
        run = self.runs[self.current]
        self._abort_current()
        self.message = f"{run.spec.name} aborted: start rescans it, next moves on."
        return ACCEPTED

    def _abort_current(self) -> None:
        run = self.runs[self.current]
        run.status = "aborted"
        self.alarms = []
        self.status = "finished" if self._all_over() else "idle"

    def _all_over(self) -> bool:
        return all(run.status in ("done", "aborted") for run in self.runs)

    def _cmd_next_sequence(self, args: dict[str, Any]) -> Result:
        if self.status in ("running", "paused"):
            return _refused("A sequence is in progress: abort it before moving on.")
        if self.status == "waiting_contrast":
            return _refused("Waiting for local staff to confirm contrast.")
        if self.current + 1 >= len(self.runs) and self._all_over():
            return _refused("This is the last sequence and the protocol is finished.")
        run = self.runs[self.current]
        if run.status != "done":
            run.status = "aborted"
        self.alarms = []
        if self.current + 1 < len(self.runs):
            self.current += 1
            self.status = "idle"
            self.message = f"Skipped {run.spec.name}; next: {self.runs[self.current].spec.name}."
        else:
            self.status = "finished"
            self.message = f"Skipped {run.spec.name}. Protocol finished."
        return ACCEPTED

    def _cmd_adjust(self, args: dict[str, Any]) -> Result:
        parameter, value = args.get("parameter"), args.get("value")
        if parameter not in PARAMETERS:
            return _refused(f"Adjust which parameter? One of: {', '.join(PARAMETERS)}.")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return _refused(f"{parameter} needs a number.")
        if self.status == "running":
            return _refused("Parameters cannot change while the sequence runs: pause it first.")
        if self.status == "waiting_contrast":
            return _refused("Waiting for local staff to confirm contrast.")
        run = self.runs[self.current]
        if run.status == "done":
            return _refused(f"{run.spec.name} is done: parameters apply to what is still to run.")
        low, high = run.spec.limits()[parameter]
        if not low <= value <= high:
            return _refused(f"{_label(parameter)} must be between {_num(low)} and {_num(high)}.")
        if parameter == "slices":
            if value != int(value):
                return _refused("Slices must be a whole number.")
            value = int(value)
        proposed = {**run.parameters, parameter: float(value) if parameter != "slices" else value}
        if proposed["te_ms"] >= proposed["tr_ms"]:
            return _refused("TE must be shorter than TR.")
        sar = run.spec.sar_at(proposed)
        if sar > self.protocol.sar_limit:
            return _refused(
                f"SAR would be {sar:.2f} W/kg, over the {self.protocol.sar_limit:.1f} W/kg limit: "
                "lower the flip angle or the slices, or lengthen TR."
            )
        run.parameters = proposed
        self.message = f"{run.spec.name}: {_label(parameter)} set to {_num(value)}."
        if self.status == "paused":
            run.status = "pending"
            run.acquired_s = 0.0
            self.status = "idle"
            self.alarms = []
            self.message += " The sequence restarts from the beginning."
        return ACCEPTED

    def _cmd_move_table(self, args: dict[str, Any]) -> Result:
        position = args.get("position_mm")
        if (
            isinstance(position, bool)
            or not isinstance(position, int | float)
            or not math.isfinite(position)
        ):
            return _refused("The table position needs a number of millimetres.")
        if self.status in ("running", "paused"):
            return _refused(
                f"The table cannot move while a sequence is {self.status}; abort it or wait."
            )
        low, high = TABLE_RANGE_MM
        if not low <= position <= high:
            return _refused(f"The table moves between {_num(low)} and {_num(high)} mm.")
        self.table_mm = float(position)
        self.message = f"Table moved to {_num(round(position, 1))} mm."
        return ACCEPTED

    def _cmd_request_contrast(self, args: dict[str, Any]) -> Result:
        if self.contrast == "requested":
            return _refused("Contrast is already requested: waiting for local staff.")
        if self.contrast in ("confirmed", "injected"):
            return _refused(f"Contrast is already {self.contrast}.")
        if self.status in ("running", "paused"):
            return _refused("Request contrast between sequences, not during one.")
        if not any(
            run.spec.contrast and run.status == "pending" for run in self.runs[self.current :]
        ):
            return _refused("No sequence left in this protocol needs contrast.")
        self.contrast = "requested"
        self.status = "waiting_contrast"
        self.message = "Contrast requested: local staff, confirm when the injector is ready."
        return ACCEPTED

    def _cmd_confirm_contrast(self, args: dict[str, Any]) -> Result:
        if self.contrast != "requested":
            return _refused("Nobody requested contrast.")
        self.contrast = "confirmed"
        self.status = "finished" if self._all_over() else "idle"
        self.message = "Contrast confirmed by local staff: it is injected as the sequence starts."
        return ACCEPTED

    def _cmd_stop(self, args: dict[str, Any]) -> Result:
        """STOP is never refused."""
        if self.status in ("running", "paused"):
            run = self.runs[self.current]
            run.status = "aborted"
            self.message = f"STOP: {run.spec.name} aborted."
        else:
            self.message = "STOP: nothing was running."
        self.alarms = []
        if self.contrast == "requested":
            self.contrast = "none"
        self.status = "finished" if self._all_over() else "stopped"
        return ACCEPTED

    # --- State ------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    def state(self) -> dict[str, Any]:
        run = self.runs[self.current]
        return {
            "protocol": self.protocol.code,
            "protocol_name": self.protocol.name,
            "status": self.status,
            "current": self.current,
            "sequences": [
                {
                    "name": item.spec.name,
                    "duration_s": _r(item.duration_s, 1),
                    "status": item.status,
                    "progress": _r(item.progress, 3),
                    "contrast": item.spec.contrast,
                }
                for item in self.runs
            ],
            "table_mm": _r(self.table_mm, 1),
            "table_range_mm": list(TABLE_RANGE_MM),
            "coil": self.protocol.coil,
            "sar": {"level": _r(run.sar, 2), "limit": self.protocol.sar_limit},
            "alarms": [{"code": alarm.code, "message": alarm.message} for alarm in self.alarms],
            "contrast": self.contrast,
            "parameters": {
                key: (int(value) if key == "slices" else _r(value, 2))
                for key, value in run.parameters.items()
            },
            "limits": {
                key: [int(low), int(high)] if key == "slices" else [low, high]
                for key, (low, high) in run.spec.limits().items()
            },
            "elapsed_s": _r(sum(item.acquired_s for item in self.runs), 1),
            "remaining_s": _r(
                sum(
                    item.duration_s - item.acquired_s
                    for item in self.runs
                    if item.status not in ("done", "aborted")
                ),
                1,
            ),
            "message": self.message,
        }

    def copy(self) -> "Console":
        """An independent console in the same state (random stream included)."""
        return copy.deepcopy(self)


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """The top-level keys of `new` whose values differ from `old` (all of them when there is no
    `old`); a key `new` no longer has maps to None. What a delta `state` frame carries."""
    if old is None:
        return dict(new)
    changes = {key: value for key, value in new.items() if old.get(key, _MISSING) != value}
    changes.update({key: None for key in old if key not in new})
    return changes


_MISSING = object()


def _r(value: float, digits: int) -> float:
    rounded = round(float(value), digits)
    return rounded + 0.0  # no -0.0


def _num(value: float) -> str:
    return f"{value:g}"


def _label(parameter: str) -> str:
    return {
        "tr_ms": "TR (ms)",
        "te_ms": "TE (ms)",
        "flip_angle_deg": "Flip angle (°)",
        "slice_thickness_mm": "Slice thickness (mm)",
        "slices": "Slices",
    }[parameter]
