r"""No patient data: free text that describes the work must not identify the person scanned.

`patient_identifier_problems(text)` names what in a text looks like a patient identifier: a full
date (a date of birth), a national register or NHS-style number, an e-mail address, a phone
number or a person's name (core.names: "Mevrouw Els Peeters", "jan janssens", "Nom : Dupont").
Work descriptions need none of these: times belong in the posting's start and end, and people
are reached through WeScan, not through numbers or names typed into notes.

The patterns run on RE2 (google-re2), an automaton that reads the text once whatever the pattern:
linear time by construction. Python's backtracking `re` made `[\w.+-]+@` quadratic (40,000
characters took 4.6 s, 200,000 froze the server for two minutes); rewriting each pattern to dodge
backtracking would hold only until the next pattern is added. A 200,000-character text is checked
in a few milliseconds by the patterns, and in about 30 ms with the names, even when every word is
one (bench/bench_identifiers.py). Callers bound the text before it gets here too
(`core.text.free_text_clean`).
"""

from typing import Any

import re2
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.names import person_name_found


def _compile(pattern: str) -> Any:
    """Case-insensitive, as people type: "DOB", "Jan", "GEBOREN"."""
    return re2.compile(f"(?i){pattern}")


_PATTERNS: list[tuple[Any, Any]] = [
    (
        _("an e-mail address"),
        _compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),
    ),
    (
        # Belgian national register number: YY.MM.DD-XXX.CC, or its 11 digits run together.
        _("a national register number"),
        _compile(r"\b\d{2}[.\s]?\d{2}[.\s]?\d{2}[-\s]?\d{3}[.\s]?\d{2}\b"),
    ),
    (
        # NHS number style: 10 digits, often written 3-3-4.
        _("an NHS-style patient number"),
        _compile(r"\b\d{3}[\s-]?\d{3}[\s-]?\d{4}\b"),
    ),
    (
        _("a phone number"),
        _compile(
            # RE2 has no look-behind: "not after a letter, digit or dot" is such a character or ^.
            r"(?:^|[^\w.])(\+|00)\d[\d\s./-]{7,}\d\b|\b0\d{1,3}[\s./-]?\d{2,3}([\s./-]?\d{2}){2,3}\b"
        ),
    ),
    (
        _("a date (a date of birth?)"),
        _compile(
            r"\b(\d{1,2}[./-]\d{1,2}[./-](\d{4}|\d{2})|\d{4}-\d{1,2}-\d{1,2})\b"
            r"|\b\d{1,2}\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{4}\b"
        ),
    ),
    (
        _("a date (a date of birth?)"),
        _compile(r"\b(d\.?o\.?b\.?|date of birth|born on|né[e]? le|geboren)\b"),
    ),
]


# What a name found is called in the message: never the name itself, which would then be copied
# into the logs that record refusals.
PERSON_NAME = _("a person's name")


def patient_identifier_problems(text: str) -> list[str]:
    """What in `text` looks like a patient identifier, as phrases for an error message."""
    found = [label for label, pattern in _PATTERNS if pattern.search(text or "")]
    if person_name_found(text or ""):
        found.append(PERSON_NAME)
    return list(dict.fromkeys(found))  # each kind once, in order


def patient_identifier_message(problems: list[str]) -> str:
    """The refusal, in the active language (the phrases are lazy: each is said in it too)."""
    named = [str(problem) for problem in problems]
    listed = (
        named[0]
        if len(named) == 1
        else gettext("%(items)s and %(last)s") % {"items": ", ".join(named[:-1]), "last": named[-1]}
    )
    return gettext(
        "This looks like it contains %(listed)s. Describe the work, never the patient: no names, "
        "dates of birth, register or NHS numbers, e-mail addresses or phone numbers (the session's "
        "times belong in its start and end)."
    ) % {"listed": listed}
