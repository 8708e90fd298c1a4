"""What the market-wide optimiser maximises, in one place.

The optimiser (`scheduling.optimiser.solve`) chooses at most one technologist per open session
over the horizon, within the hard rules (every rule of the matching, no two sessions of one
technologist closer than the rest buffer, the weekly cap in their own week). Among the
proposals that keep those rules it takes the best by four terms, in this order:

1. **Staffing.** The sessions staffed, each counted by its urgency lane (`Objective.lanes`: an
   urgent session counts 4, a priority one 2, a routine one 1). This term is strict: the unit
   of staffing is computed for each problem to exceed everything the lower terms can add or take
   away together, so one more routine session staffed (or one routine traded for a priority one)
   always beats any amount of fairness, reciprocity and experience.
2. **Fairness.** Hours spread across technologists: each technologist costs a convex penalty on
   the minutes they would hold over the horizon (confirmed ones included): the minutes of their
   first `fairness_step_minutes` cost nothing, those of the next step 1 each, of the next 2, and
   so on. Giving a session to someone who holds fewer hours this fortnight therefore never costs
   more than giving it to someone who holds more. One unit of this penalty outweighs any
   difference of the two terms below, so for any one session, of two free technologists the one
   with fewer hours wins (unless both sit on the same step, where the penalty cannot tell them
   apart).
3. **Reciprocity** (the `Pair.reciprocity` points of the ranking's `Weights`: hospitals that gave
   more hours to the network are served first), then
4. **Experience** (`Pair.experience`: completed sessions on the vendor and at the hospital).
   Reciprocity and experience are compared in that order for each session (one point of
   reciprocity beats any experience); across sessions their points add up.

Last, a tie-break of `tie_break_levels` values, fixed by the session and technologist ids
(a hash, not their order, so it favours nobody), makes equal proposals rare, so that the same
problem gives the same proposal.

Terms 2–4 are "lexicographic by weighting": each weight is computed from the problem's own
ranges (see `scheduling.optimiser.index`), never guessed, and the objective stays an integer.
The matching's ranking weights (`scheduling.matching.WEIGHTS`) give the reciprocity and
experience points the optimiser reads. How the optimiser maximises this objective (staffing
first, then the rest, both with CP-SAT) is in `scheduling/optimiser/solve.py`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["OBJECTIVE", "Objective"]


@dataclass(frozen=True)
class Objective:
    """The optimiser's weights; the module docstring says how they combine."""

    # What one staffed session is worth, by its urgency lane (the Urgency values).
    lanes: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({"routine": 1, "priority": 2, "urgent": 4})
    )
    # Width of one step of the convex fairness penalty: the k-th step of a technologist's
    # minutes over the horizon costs k per minute.
    fairness_step_minutes: int = 240
    # Distinct values of the tie-break per (session, technologist) pair.
    tie_break_levels: int = 8


OBJECTIVE = Objective()
