import pytest

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
