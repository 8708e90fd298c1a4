"""How an exam went, from the scanner's console state alone (pure: no database, no clock).

Each sequence of the protocol ends as one of:
- done: acquired in full;
- aborted: started and cut short (aborted, stopped, or still running or paused when the exam
  ended);
- skipped: never acquired (still pending, or moved past before any of it was acquired).

The exam as a whole is `completed` when every sequence is done, `partial` when some are, and
`aborted` when none is (or the console never told us of any sequence)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext

DONE = "done"
ABORTED = "aborted"
SKIPPED = "skipped"

COMPLETED = "completed"
PARTIAL = "partial"
EXAM_ABORTED = "aborted"


def sequence_outcome(sequence: Mapping[str, Any]) -> str:
    """One sequence's outcome from its console entry (`status`, `progress`)."""
    status = sequence.get("status")
    progress = sequence.get("progress")
    acquired = isinstance(progress, int | float) and not isinstance(progress, bool) and progress > 0
    if status == DONE:
        return DONE
    if status in ("running", "paused"):
        return ABORTED
    if status == ABORTED:
        return ABORTED if acquired else SKIPPED
    return SKIPPED


def exam_outcome(outcomes: Iterable[str]) -> str:
    """The whole exam's outcome from its sequences' outcomes."""
    listed = list(outcomes)
    done = sum(1 for outcome in listed if outcome == DONE)
    if listed and done == len(listed):
        return COMPLETED
    return PARTIAL if done else EXAM_ABORTED


@dataclass(frozen=True)
class Outcome:
    outcome: str
    sequences: list[dict[str, Any]]  # [{"name", "outcome", "progress"}], in protocol order
    done: int
    total: int


def outcome_of(console: Mapping[str, Any] | None) -> Outcome:
    """The exam's outcome from the console state the relay kept (None: never heard of)."""
    raw = console.get("sequences") if console else None
    items = [item for item in raw if isinstance(item, Mapping)] if isinstance(raw, list) else []
    sequences = []
    for item in items:
        progress = item.get("progress")
        if not isinstance(progress, int | float) or isinstance(progress, bool):
            progress = 0.0
        sequences.append(
            {
                "name": str(item.get("name") or "")[:100],
                "outcome": sequence_outcome(item),
                "progress": round(min(max(float(progress), 0.0), 1.0), 3),
            }
        )
    outcomes = [str(sequence["outcome"]) for sequence in sequences]
    return Outcome(
        outcome=exam_outcome(outcomes),
        sequences=sequences,
        done=outcomes.count(DONE),
        total=len(outcomes),
    )


def outcome_label(outcome: str, done: int, total: int) -> str:
    """How a finished exam is named everywhere: never plainly "Completed" unless it was."""
    if outcome == COMPLETED:
        return gettext("Completed")
    if outcome == PARTIAL:
        return gettext("Completed — partial (%(done)s of %(total)s sequences)") % {
            "done": done,
            "total": total,
        }
    return gettext("Aborted (%(done)s of %(total)s sequences done)") % {
        "done": done,
        "total": total,
    }
