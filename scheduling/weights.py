"""What the ranking orders by and what the market-wide optimiser maximises, in one place.

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
The ranking's weights (`Weights`, below: what one posting's candidates and one technologist's
postings are ordered by) give the reciprocity and experience points the optimiser reads, so a
hospital's reciprocity and a technologist's experience count the same in both. How the
optimiser maximises its objective (staffing first, then the rest, both with CP-SAT) is in
`scheduling/optimiser/solve.py`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from marketplace.models import Urgency

__all__ = ["OBJECTIVE", "WEIGHTS", "Objective", "Weights"]


@dataclass(frozen=True)
class Weights:
    """The soft terms of a match and what each is worth. A score is the sum of the points of
    its terms; hard filters add nothing (they all pass, or the match is not shown). Every term
    is bounded so that none drowns the others: a score lies between -20 and 90.

    - `urgency`: points by the posting's urgency lane (0 / 10 / 20). For a technologist it
      orders their postings; for a posting's candidates it is the same for all, and shown.
    - `per_vendor_session` × completed sessions of the technologist on scanners of the
      posting's vendor, counting at most `sessions_counted` (0..20).
    - `per_hospital_session` × completed sessions at the posting's hospital, counting at most
      `sessions_counted` (0..20).
    - `per_reciprocity_hour` × net hours of the reciprocity ledger, counting at most
      `reciprocity_hours_counted` either way (-20..20). For a posting's candidates: the hours
      the posting's hospital gave the hospital lending the candidate, minus those it received
      from it (a lender that owes the posting's hospital comes first; a candidate offering
      their own time scores 0). For a technologist: the posting hospital's hours given to the
      whole network minus those received (hospitals that gave more come first).
    - `fairness` × the share of the weekly cap still free in the session's week (0..10): at
      equal fit, whoever holds fewer confirmed hours that week ranks higher.
    """

    urgency: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(
            {Urgency.ROUTINE: 0.0, Urgency.PRIORITY: 10.0, Urgency.URGENT: 20.0}
        )
    )
    per_vendor_session: float = 2.0
    per_hospital_session: float = 2.0
    sessions_counted: int = 10
    per_reciprocity_hour: float = 0.5
    reciprocity_hours_counted: int = 40
    fairness: float = 10.0


WEIGHTS = Weights()


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
