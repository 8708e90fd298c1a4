"""The console simulator: deterministic, within its limits, and what a technologist expects of
each command."""

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.simulator import (
    PARAMETERS,
    PROTOCOLS,
    TABLE_RANGE_MM,
    Console,
    Result,
    diff,
    protocol_for,
)

COMMANDS = (
    "start",
    "pause",
    "resume",
    "abort",
    "next_sequence",
    "request_contrast",
    "confirm_contrast",
    "stop",
)
STATUSES = {"idle", "running", "paused", "waiting_contrast", "stopped", "finished"}
SEQUENCE_STATUSES = {"pending", "running", "paused", "done", "aborted"}

# --- Strategies: a protocol, a seed, and a script of ticks and commands -----------------------

command = st.one_of(
    st.tuples(st.sampled_from(COMMANDS), st.just({})),
    st.tuples(
        st.just("adjust"),
        st.fixed_dictionaries(
            {
                "parameter": st.sampled_from(PARAMETERS),
                "value": st.one_of(
                    st.floats(min_value=0.5, max_value=10000, allow_nan=False),
                    st.integers(min_value=0, max_value=400),
                ),
            }
        ),
    ),
    st.tuples(
        st.just("move_table"),
        st.fixed_dictionaries({"position_mm": st.floats(min_value=-500, max_value=2500)}),
    ),
)
# (seconds after the previous step, command or None for a plain tick). Many starts, so that
# sequences actually run, finish and meet alarms.
step = st.tuples(
    st.floats(min_value=0, max_value=90, allow_nan=False),
    st.one_of(
        st.none(),
        command,
        st.just(("start", {})),
        st.just(("resume", {})),
        st.just(("next_sequence", {})),
    ),
)
script = st.lists(step, max_size=60)
PROPERTY = settings(max_examples=150, deadline=None, database=None)


def play(
    protocol: str, seed: int, steps: list[tuple[float, Any]]
) -> list[tuple[Result | None, dict[str, Any]]]:
    console = Console(protocol, seed=seed, now=0.0)
    now = 0.0
    trace: list[tuple[Result | None, dict[str, Any]]] = []
    for delay, cmd in steps:
        now += delay
        if cmd is None:
            console.tick(now)
            trace.append((None, console.state()))
        else:
            trace.append((console.apply(cmd[0], cmd[1], now=now), console.state()))
    return trace


@PROPERTY
@given(st.sampled_from(sorted(PROTOCOLS)), st.integers(0, 2**32), script)
def test_same_inputs_give_the_same_states(protocol: str, seed: int, steps: list) -> None:
    assert play(protocol, seed, steps) == play(protocol, seed, steps)


@PROPERTY
@given(st.sampled_from(sorted(PROTOCOLS)), st.integers(0, 2**32), script)
def test_every_state_stays_within_the_consoles_limits(
    protocol: str, seed: int, steps: list
) -> None:
    for _, state in play(protocol, seed, steps):
        assert json.loads(json.dumps(state)) == state
        assert state["status"] in STATUSES
        for sequence in state["sequences"]:
            assert 0.0 <= sequence["progress"] <= 1.0
            assert sequence["status"] in SEQUENCE_STATUSES
        assert sum(s["status"] in ("running", "paused") for s in state["sequences"]) <= 1
        assert state["sar"]["level"] <= state["sar"]["limit"]
        low, high = state["table_range_mm"]
        assert low <= state["table_mm"] <= high
        for parameter, (low, high) in state["limits"].items():
            assert low <= state["parameters"][parameter] <= high
        assert state["parameters"]["te_ms"] < state["parameters"]["tr_ms"]
        assert (state["status"] == "finished") == all(
            s["status"] in ("done", "aborted") for s in state["sequences"]
        )
        assert state["remaining_s"] >= 0
        assert state["elapsed_s"] >= 0


@PROPERTY
@given(st.sampled_from(sorted(PROTOCOLS)), st.integers(0, 2**32), script, command)
def test_a_refused_command_changes_nothing(
    protocol: str, seed: int, steps: list, last: tuple[str, dict[str, Any]]
) -> None:
    console = Console(protocol, seed=seed)
    now = 0.0
    for delay, cmd in [*steps, (1.0, last)]:
        now += delay
        if cmd is None:
            console.tick(now)
            continue
        untouched = console.copy()
        untouched.tick(now)
        result = console.apply(cmd[0], cmd[1], now=now)
        if not result.ok:
            assert result.reason
            assert console.state() == untouched.state()
            # ... and the future too (the random stream was not consumed).
            console.tick(now + 500)
            untouched.tick(now + 500)
            assert console.state() == untouched.state()
            return


@PROPERTY
@given(st.sampled_from(sorted(PROTOCOLS)), st.integers(0, 2**32), script)
def test_diff_carries_exactly_what_changed(protocol: str, seed: int, steps: list) -> None:
    previous: dict[str, Any] | None = None
    for _, state in play(protocol, seed, steps):
        changes = diff(previous, state)
        assert {**(previous or {}), **changes} == state
        if previous is not None:
            assert all(previous[key] != value for key, value in changes.items())
        previous = state


# --- Plain examples ---------------------------------------------------------------------------


def quiet(protocol: str = "neuro", **options: Any) -> Console:
    """A console without random alarms, for exact expectations."""
    return Console(protocol, seed=1, alarms=False, **options)


def test_a_fresh_console_is_idle_on_the_first_sequence_with_the_documented_shape() -> None:
    state = quiet().state()
    assert set(state) == {
        "protocol",
        "protocol_name",
        "status",
        "current",
        "sequences",
        "table_mm",
        "table_range_mm",
        "coil",
        "sar",
        "alarms",
        "contrast",
        "parameters",
        "limits",
        "elapsed_s",
        "remaining_s",
        "message",
    }
    assert state["protocol"] == "neuro"
    assert state["status"] == "idle"
    assert state["current"] == 0
    assert state["sequences"][0] == {
        "name": "3-plane localiser",
        "duration_s": 20.0,
        "status": "pending",
        "progress": 0.0,
        "contrast": False,
    }
    assert state["sequences"][-1]["contrast"] is True
    assert state["coil"] == "Head/Neck 20"
    assert state["sar"] == {"level": 0.1, "limit": 3.2}
    assert state["table_range_mm"] == list(TABLE_RANGE_MM)
    assert state["contrast"] == "none"
    assert state["alarms"] == []
    assert state["elapsed_s"] == 0.0
    assert state["remaining_s"] == sum(s["duration_s"] for s in state["sequences"])


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_every_protocol_has_realistic_watchable_sequences(protocol: str) -> None:
    spec = PROTOCOLS[protocol]
    assert spec.sequences[0].name == "3-plane localiser"
    for sequence in spec.sequences:
        assert 20 <= sequence.duration_s <= 120
        assert sequence.sar < 0.8 * spec.sar_limit  # the plan itself is safe
        assert sequence.te_ms < sequence.tr_ms


def test_protocol_for_takes_the_first_family_with_a_protocol() -> None:
    assert protocol_for(["cardiac", "neuro"]) == "cardiac"
    assert protocol_for(["paediatric", "msk"]) == "msk"
    assert protocol_for(["pelvis-prostate"]) == "prostate"
    assert protocol_for(["head-neck"]) == "neuro"
    assert protocol_for([]) == "neuro"
    assert protocol_for(["whole-body"]) == "neuro"


def test_an_unknown_protocol_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="Unknown protocol 'dental'"):
        Console("dental")


def test_start_runs_the_sequence_and_progress_follows_the_clock() -> None:
    console = quiet(now=100.0)
    assert console.apply("start", {}, now=100.0) == Result(True, "")
    console.tick(110.0)
    state = console.state()
    assert state["status"] == "running"
    assert state["sequences"][0]["status"] == "running"
    assert state["sequences"][0]["progress"] == 0.5  # 10 of 20 s
    assert state["elapsed_s"] == 10.0
    assert state["message"] == "Running 3-plane localiser."


def test_a_finished_sequence_moves_to_the_next_and_waits_for_start() -> None:
    console = quiet()
    console.apply("start", {}, now=0.0)
    console.tick(25.0)
    state = console.state()
    assert state["sequences"][0]["status"] == "done"
    assert state["sequences"][0]["progress"] == 1.0
    assert state["current"] == 1
    assert state["status"] == "idle"
    assert state["sequences"][1]["progress"] == 0.0  # the extra 5 s went nowhere
    assert state["elapsed_s"] == 20.0


def test_the_clock_never_goes_back() -> None:
    console = quiet()
    console.apply("start", {}, now=10.0)
    console.tick(15.0)
    console.tick(12.0)
    assert console.state()["sequences"][0]["progress"] == 0.25


def test_pause_and_resume() -> None:
    console = quiet()
    console.apply("start", {}, now=0.0)
    assert console.apply("pause", {}, now=5.0).ok
    console.tick(50.0)
    state = console.state()
    assert state["status"] == "paused"
    assert state["sequences"][0] == {**state["sequences"][0], "status": "paused", "progress": 0.25}
    assert console.apply("pause", {}, now=51.0) == Result(False, "Nothing is running to pause.")
    assert console.apply("resume", {}, now=60.0).ok
    console.tick(65.0)
    assert console.state()["sequences"][0]["progress"] == 0.5
    assert console.apply("resume", {}, now=66.0) == Result(False, "Nothing is paused to resume.")


def test_abort_keeps_the_sequence_current_for_a_rescan() -> None:
    console = quiet()
    console.apply("start", {}, now=0.0)
    assert console.apply("abort", {}, now=4.0).ok
    state = console.state()
    assert state["status"] == "idle"
    assert state["current"] == 0
    assert state["sequences"][0]["status"] == "aborted"
    assert state["sequences"][0]["progress"] == 0.2
    assert console.apply("abort", {}, now=5.0) == Result(False, "Nothing is running to abort.")
    assert console.apply("start", {}, now=6.0).ok
    assert console.state()["message"] == "Rescanning 3-plane localiser."
    assert console.state()["sequences"][0]["progress"] == 0.0


def test_next_sequence_skips_but_not_while_running() -> None:
    console = quiet()
    console.apply("start", {}, now=0.0)
    assert console.apply("next_sequence", {}, now=1.0) == Result(
        False, "A sequence is in progress: abort it before moving on."
    )
    console.apply("abort", {}, now=2.0)
    assert console.apply("next_sequence", {}, now=3.0).ok
    state = console.state()
    assert state["current"] == 1
    assert [s["status"] for s in state["sequences"][:2]] == ["aborted", "pending"]
    assert state["parameters"]["tr_ms"] == 500.0  # T1 sagittal's


def test_adjust_within_limits_changes_parameters_sar_and_duration() -> None:
    console = quiet()
    console.apply("next_sequence", {}, now=0.0)  # T1 sagittal: TR 500, flip 90, 75 s, 1.1 W/kg
    assert console.apply("adjust", {"parameter": "tr_ms", "value": 600}, now=1.0).ok
    state = console.state()
    assert state["parameters"]["tr_ms"] == 600.0
    assert state["sequences"][1]["duration_s"] == 90.0
    assert state["sar"]["level"] == round(1.1 * 500 / 600, 2)
    assert state["message"] == "T1 sagittal: TR (ms) set to 600."


def test_adjust_beyond_limits_is_refused_with_the_range() -> None:
    console = quiet()
    console.apply("next_sequence", {}, now=0.0)
    assert console.state()["limits"]["tr_ms"] == [250.0, 1000.0]
    before = console.state()
    assert console.apply("adjust", {"parameter": "tr_ms", "value": 5000}, now=1.0) == Result(
        False, "TR (ms) must be between 250 and 1000."
    )
    assert console.apply("adjust", {"parameter": "slices", "value": 20.5}, now=1.0) == Result(
        False, "Slices must be a whole number."
    )
    assert console.apply("adjust", {"parameter": "te_ms", "value": "long"}, now=1.0) == Result(
        False, "te_ms needs a number."
    )
    assert console.apply("adjust", {"parameter": "bandwidth", "value": 1}, now=1.0).reason == (
        "Adjust which parameter? One of: tr_ms, te_ms, flip_angle_deg, slice_thickness_mm, slices."
    )
    assert console.state() == before


def test_adjust_that_would_exceed_sar_is_refused() -> None:
    console = quiet("cardiac")
    console.apply("next_sequence", {}, now=0.0)  # cine SSFP 2-chamber: flip 60, 1.4 of 2.0 W/kg
    assert console.apply("adjust", {"parameter": "flip_angle_deg", "value": 75}, now=1.0) == (
        Result(
            False,
            "SAR would be 2.19 W/kg, over the 2.0 W/kg limit: lower the flip angle or the "
            "slices, or lengthen TR.",
        )
    )
    assert console.apply("adjust", {"parameter": "flip_angle_deg", "value": 70}, now=1.0).ok
    assert console.state()["sar"] == {"level": 1.91, "limit": 2.0}


def test_te_must_stay_below_tr() -> None:
    console = quiet("cardiac")
    console.apply("next_sequence", {}, now=0.0)  # TR 3.0, TE 1.5
    assert console.apply("adjust", {"parameter": "te_ms", "value": 3.0}, now=1.0) == Result(
        False, "TE must be shorter than TR."
    )


def test_no_adjust_while_running_and_a_paused_sequence_restarts() -> None:
    console = quiet()
    console.apply("start", {}, now=0.0)
    assert console.apply("adjust", {"parameter": "slices", "value": 10}, now=1.0) == Result(
        False, "Parameters cannot change while the sequence runs: pause it first."
    )
    console.apply("pause", {}, now=5.0)
    assert console.apply("adjust", {"parameter": "slices", "value": 10}, now=6.0).ok
    state = console.state()
    assert state["status"] == "idle"
    assert state["sequences"][0]["status"] == "pending"
    assert state["sequences"][0]["progress"] == 0.0
    assert state["parameters"]["slices"] == 10
    assert state["message"].endswith("The sequence restarts from the beginning.")


def test_move_table_within_range_and_never_during_a_sequence() -> None:
    console = quiet()
    assert console.apply("move_table", {"position_mm": 1200}, now=0.0).ok
    assert console.state()["table_mm"] == 1200.0
    assert console.apply("move_table", {"position_mm": 2500}, now=0.0) == Result(
        False, "The table moves between 0 and 2000 mm."
    )
    assert console.apply("move_table", {}, now=0.0) == Result(
        False, "The table position needs a number of millimetres."
    )
    console.apply("start", {}, now=1.0)
    assert console.apply("move_table", {"position_mm": 1000}, now=2.0) == Result(
        False, "The table cannot move while a sequence is running; abort it or wait."
    )
    assert console.state()["table_mm"] == 1200.0


def test_a_contrast_sequence_waits_for_local_staff_to_confirm() -> None:
    console = quiet("prostate")
    for _ in range(4):
        console.apply("next_sequence", {}, now=0.0)
    assert console.state()["sequences"][4]["name"] == "DCE T1 axial"
    assert console.apply("start", {}, now=1.0) == Result(
        False, "DCE T1 axial needs contrast: request it and wait for local staff to confirm."
    )
    assert console.apply("confirm_contrast", {}, now=1.0) == Result(
        False, "Nobody requested contrast."
    )
    assert console.apply("request_contrast", {}, now=2.0).ok
    state = console.state()
    assert (state["status"], state["contrast"]) == ("waiting_contrast", "requested")
    assert console.apply("start", {}, now=3.0) == Result(
        False, "Waiting for local staff to confirm contrast."
    )
    assert console.apply("confirm_contrast", {}, now=4.0).ok
    assert (console.state()["status"], console.state()["contrast"]) == ("idle", "confirmed")
    assert console.apply("start", {}, now=5.0).ok
    state = console.state()
    assert (state["status"], state["contrast"]) == ("running", "injected")
    assert state["message"] == "Running DCE T1 axial. Contrast injected."


def test_contrast_is_refused_where_no_sequence_needs_it() -> None:
    assert quiet("msk").apply("request_contrast", {}, now=0.0) == Result(
        False, "No sequence left in this protocol needs contrast."
    )


def test_stop_is_never_refused_and_aborts_the_running_sequence() -> None:
    console = quiet()
    console.apply("start", {}, now=0.0)
    assert console.apply("stop", {}, now=3.0).ok
    state = console.state()
    assert state["status"] == "stopped"
    assert state["sequences"][0]["status"] == "aborted"
    assert state["message"] == "STOP: 3-plane localiser aborted."
    console.tick(60.0)
    assert console.state()["sequences"][0]["progress"] == 0.15
    assert console.apply("stop", {}, now=61.0).ok  # again: still fine
    assert console.apply("start", {}, now=62.0).ok  # the scan can go on after a stop


def test_stop_cancels_a_pending_contrast_request() -> None:
    console = quiet()
    console.apply("request_contrast", {}, now=0.0)
    console.apply("stop", {}, now=1.0)
    assert (console.state()["status"], console.state()["contrast"]) == ("stopped", "none")


def test_the_protocol_finishes_when_every_sequence_is_done_or_aborted() -> None:
    console = quiet("msk")
    now = 0.0
    for index in range(5):
        if index == 2:
            console.apply("next_sequence", {}, now=now)
            continue
        assert console.apply("start", {}, now=now).ok
        now += 130.0
        console.tick(now)
    state = console.state()
    assert state["status"] == "finished"
    assert console.finished
    assert [s["status"] for s in state["sequences"]] == [
        "done",
        "done",
        "aborted",
        "done",
        "done",
    ]
    assert state["remaining_s"] == 0.0
    assert (
        state["message"] == "T2 FS axial done. Protocol finished: the operator may close the exam."
    )
    assert console.apply("next_sequence", {}, now=now) == Result(
        False, "This is the last sequence and the protocol is finished."
    )


def test_unknown_commands_are_refused_by_name() -> None:
    assert quiet().apply("self_destruct", {}, now=0.0) == Result(
        False, "Unknown command 'self_destruct'."
    )


def alarm_console(code: str) -> tuple[Console, float]:
    """A console (seed searched once) whose first random alarm is `code`, and when it fired."""
    for seed in range(500):
        console = Console("neuro", seed=seed)
        console.apply("next_sequence", {}, now=0.0)  # T1 sagittal
        if code == "sar_exceeded":
            console.apply("next_sequence", {}, now=0.0)  # T2 TSE axial, then SAR near its limit
            console.apply("adjust", {"parameter": "flip_angle_deg", "value": 180}, now=0.0)
        console.apply("start", {}, now=0.0)
        for tenth in range(1, 750):
            console.tick(tenth / 10)
            if console.alarms:
                break
        if console.alarms and console.alarms[0].code == code:
            return console, console.now
    raise AssertionError(f"no seed gives {code}")


def test_the_squeeze_ball_pauses_the_scan_until_resumed() -> None:
    console, now = alarm_console("squeeze_ball")
    state = console.state()
    assert state["status"] == "paused"
    assert state["alarms"] == [
        {
            "code": "squeeze_ball",
            "message": "The patient pressed the squeeze ball: scan paused. Talk to the patient.",
        }
    ]
    assert state["message"] == state["alarms"][0]["message"]
    assert console.apply("resume", {}, now=now + 1).ok
    assert console.state()["alarms"] == []
    assert console.state()["status"] == "running"


def test_motion_warns_without_stopping_the_scan() -> None:
    console, now = alarm_console("motion")
    assert console.state()["status"] == "running"
    assert [a["code"] for a in console.state()["alarms"]] == ["motion"]
    console.tick(now + 200)  # the sequence ends: its alarms go with it
    assert console.state()["alarms"] == []


def test_the_sar_monitor_pauses_until_sar_is_lowered() -> None:
    console, now = alarm_console("sar_exceeded")
    assert console.state()["status"] == "paused"
    assert console.apply("resume", {}, now=now).reason.startswith("The SAR monitor tripped")
    assert console.apply("adjust", {"parameter": "flip_angle_deg", "value": 150}, now=now).ok
    state = console.state()
    assert state["alarms"] == []
    assert state["status"] == "idle"
    assert state["sequences"][state["current"]]["progress"] == 0.0


def test_alarms_do_not_depend_on_the_tick_rate() -> None:
    fine = Console("cardiac", seed=11)
    coarse = Console("cardiac", seed=11)
    for console in (fine, coarse):
        console.apply("start", {}, now=0.0)
    for step in range(1, 3001):
        fine.tick(step / 10)
        if step % 100 == 0:
            coarse.tick(step / 10)
            fine_state, coarse_state = fine.state(), coarse.state()
            assert fine_state["alarms"] == coarse_state["alarms"]
            assert fine_state["status"] == coarse_state["status"]
            for a, b in zip(fine_state["sequences"], coarse_state["sequences"], strict=True):
                assert abs(a["progress"] - b["progress"]) <= 0.001
            if fine_state["status"] != "running":
                for console in (fine, coarse):
                    console.apply(
                        "resume" if console.status == "paused" else "start", {}, now=step / 10
                    )
