"""The exam's outcome as a function of the console's sequences: checked on every state a real
console reaches under any run of commands and time (hypothesis), not only on hand-made ones."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.outcome import (
    ABORTED,
    COMPLETED,
    DONE,
    EXAM_ABORTED,
    PARTIAL,
    SKIPPED,
    exam_outcome,
    outcome_label,
    outcome_of,
    sequence_outcome,
)
from cockpit.simulator import PROTOCOLS, Console

PROPERTY = settings(max_examples=200, deadline=None, database=None)


@pytest.mark.parametrize(
    ("status", "progress", "expected"),
    [
        ("done", 1.0, DONE),
        ("running", 0.4, ABORTED),  # still acquiring when the exam ended: cut short
        ("paused", 0.0, ABORTED),
        ("aborted", 0.2, ABORTED),
        ("aborted", 0.0, SKIPPED),  # moved past before anything was acquired
        ("pending", 0.0, SKIPPED),
        ("nonsense", "x", SKIPPED),
    ],
)
def test_each_sequence_is_done_aborted_or_skipped(
    status: str, progress: Any, expected: str
) -> None:
    assert sequence_outcome({"status": status, "progress": progress}) == expected


def test_the_exam_is_completed_only_when_every_sequence_is_done() -> None:
    assert exam_outcome([DONE, DONE]) == COMPLETED
    assert exam_outcome([DONE, ABORTED, SKIPPED]) == PARTIAL
    assert exam_outcome([ABORTED, SKIPPED]) == EXAM_ABORTED
    assert exam_outcome([]) == EXAM_ABORTED  # nothing heard of: nothing was done
    assert outcome_of(None).outcome == EXAM_ABORTED
    assert outcome_of({"sequences": "garbage"}).total == 0


def test_labels_never_say_plainly_completed_unless_it_was() -> None:
    assert outcome_label(COMPLETED, 5, 5) == "Completed"
    assert outcome_label(PARTIAL, 3, 5) == "Completed — partial (3 of 5 sequences)"
    assert outcome_label(EXAM_ABORTED, 0, 5) == "Aborted (0 of 5 sequences done)"


COMMANDS = st.sampled_from(
    ["start", "pause", "resume", "abort", "next_sequence", "stop", "request_contrast"]
)
STEPS = st.lists(
    st.tuples(COMMANDS, st.floats(min_value=0.0, max_value=200.0, allow_nan=False)),
    max_size=40,
)


@PROPERTY
@given(protocol=st.sampled_from(sorted(PROTOCOLS)), steps=STEPS, seed=st.integers(0, 1000))
def test_the_outcome_follows_the_sequences_of_any_console_state(
    protocol: str, steps: list[tuple[str, float]], seed: int
) -> None:
    """Whatever the operator did, the summary agrees with the console, sequence by sequence."""
    console = Console(protocol, seed=seed, now=0.0)
    now = 0.0
    for name, wait in steps:
        now += wait
        console.apply(name, {}, now=now)
        if console.contrast == "requested":
            console.apply("confirm_contrast", {}, now=now)  # local staff confirm at once
        state = console.state()
        outcome = outcome_of(state)
        sequences = state["sequences"]
        assert outcome.total == len(sequences)
        assert [s["name"] for s in outcome.sequences] == [s["name"] for s in sequences]
        for kept, seen in zip(outcome.sequences, sequences, strict=True):
            assert (kept["outcome"] == DONE) == (seen["status"] == "done")
            if seen["status"] in ("running", "paused"):
                assert kept["outcome"] == ABORTED
            if seen["status"] == "pending":
                assert kept["outcome"] == SKIPPED
            if kept["outcome"] == ABORTED:
                assert seen["progress"] > 0 or seen["status"] in ("running", "paused")
        assert outcome.done == sum(1 for s in sequences if s["status"] == "done")
        assert (outcome.outcome == COMPLETED) == (outcome.done == outcome.total)
        assert (outcome.outcome == EXAM_ABORTED) == (outcome.done == 0)
        label = outcome_label(outcome.outcome, outcome.done, outcome.total)
        assert (label == "Completed") == (outcome.outcome == COMPLETED)
        if console.finished and outcome.outcome == COMPLETED:
            assert all(s["status"] == "done" for s in sequences)


def test_a_protocol_run_to_its_end_is_completed() -> None:
    console = Console("msk", seed=1, now=0.0, alarms=False)
    now = 0.0
    while not console.finished:
        console.apply("start", {}, now=now)
        now += 10_000
        console.tick(now)
    assert outcome_of(console.state()).outcome == COMPLETED
