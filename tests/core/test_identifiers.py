import re

import pytest
import re2

from core.identifiers import patient_identifier_problems


@pytest.mark.parametrize(
    "text",
    [
        "Neuro protocol with gadolinium, 3T, 45 min slots",
        "Prostate mpMRI, 6 exams expected; contrast nurse on site",
        "Cardiac stress with adenosine, call the desk on extension 204",
        "Slots 08:00-12:00, 4 x 45 min, knee and shoulder lists",
        "Siemens Vida XA60 software, 1.5T backup on MR 2",
        "Paediatric list: sedation team present from 09:30",
    ],
)
def test_work_descriptions_pass(text: str) -> None:
    assert patient_identifier_problems(text) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Patient born 12/03/1957, claustrophobic", "a date (a date of birth?)"),
        ("DOB 1957-03-12", "a date (a date of birth?)"),
        ("Mrs X, 3 March 1957", "a date (a date of birth?)"),
        ("Questions: jan.peeters@example.org", "an e-mail address"),
        ("NRN 57.03.12-123.45", "a national register number"),
        ("rijksregister 85031212345", "a national register number"),
        ("NHS 943 476 5919", "an NHS-style patient number"),
        ("Call her on +32 2 555 12 34", "a phone number"),
        ("GSM 0475 12 34 56", "a phone number"),
    ],
)
def test_patient_identifiers_are_named(text: str, problem: str) -> None:
    assert problem in patient_identifier_problems(text)


def test_the_message_names_each_kind_once() -> None:
    from core.identifiers import patient_identifier_message

    problems = patient_identifier_problems("DOB 12/03/1957, call 0475 12 34 56")
    assert problems == ["a phone number", "a date (a date of birth?)"]
    assert patient_identifier_message(problems).startswith(
        "This looks like it contains a phone number and a date (a date of birth?)."
    )


# Texts that made the old backtracking patterns quadratic (a run each position rescans), 200,000
# characters each: the longest body a form or the API reads is 1 MiB.
HOSTILE = {
    "letters": "a" * 200_000,
    "digits": "1" * 200_000,
    "digits and spaces": "1 " * 100_000,
    "zeros and spaces": "00 " * 66_667,
    "plus signs": "+1 " * 66_667,
    "dotted": "a." * 100_000,
    "at signs": "a@" * 100_000,
    "dotted domain": "x@" + "a." * 99_999,
    "months": "1 jan " * 33_334,
}


# What each hostile text gives: read once by the automaton, the answer at the end of the text.
HOSTILE_PROBLEMS = {
    "letters": [],
    "digits": [],
    "digits and spaces": [],
    "zeros and spaces": ["a phone number"],
    "plus signs": [],
    "dotted": [],
    "at signs": [],
    "dotted domain": ["an e-mail address"],
    "months": [],
}


def test_every_pattern_runs_on_re2() -> None:
    """Linear time by construction, whatever the pattern: RE2 has no backtracking, so no text can
    make it rescan. Decided by the engine, not by a clock a busy machine could hold up; Python's
    `re` (or any backtracking engine) brought back here fails, before the hostile texts below
    could take minutes on it. The time itself is a figure of bench/bench_identifiers.py."""
    import core.identifiers

    patterns = [pattern for _label, pattern in core.identifiers._PATTERNS]
    assert patterns
    assert all(isinstance(pattern, re2._Regexp) for pattern in patterns), patterns
    # Nor a pattern kept beside the table on another engine.
    python_re = [x for x in vars(core.identifiers).values() if isinstance(x, re.Pattern)]
    assert python_re == []


@pytest.mark.parametrize("name", HOSTILE.keys())
def test_a_long_hostile_text_is_checked_to_its_end(name: str) -> None:
    test_every_pattern_runs_on_re2()  # on a backtracking engine this would not end for minutes
    assert patient_identifier_problems(HOSTILE[name]) == HOSTILE_PROBLEMS[name]


# Texts where every word is one the name check weighs: full names, honorifics, particles, titles.
NAME_UNITS = {
    "full names": "Jan Janssens ",
    "honorifics": "Mevrouw ",
    "lower-case names": "jan de smet ",
    "particles": "Mevrouw van de ",
    "titles": "Herr Dr. ",
    "initials": "J. ",
    "labels": "Naam: ",
}


def _steps(text: str) -> int:
    """Python-level calls made while checking `text` for a name: the work done, counted, not
    timed, so a busy machine cannot decide."""
    import sys

    from core.names import person_name_found, person_names

    person_names()  # read before counting
    steps = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal steps
        steps += 1

    sys.setprofile(count)
    try:
        person_name_found(text)
    finally:
        sys.setprofile(None)
    return steps


@pytest.mark.parametrize("unit", NAME_UNITS.values(), ids=NAME_UNITS.keys())
def test_the_name_check_does_work_linear_in_the_text(unit: str) -> None:
    small, large = ((unit * (size // len(unit) + 1))[:size] for size in (20_000, 200_000))
    assert _steps(large) <= 11 * _steps(small)


def test_an_identifier_at_the_end_of_a_long_text_is_still_found() -> None:
    text = "a" * 199_000 + " call 0475 12 34 56, mail jan.peeters@example.org"
    assert patient_identifier_problems(text) == ["an e-mail address", "a phone number"]
