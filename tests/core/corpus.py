"""The labelled notes of tests/core/data/identifiers_corpus.tsv and how well the patient-data
check reads them; shared by the quality test and bench/bench_identifiers.py."""

from dataclasses import dataclass
from pathlib import Path

from core.identifiers import PERSON_NAME, patient_identifier_problems

CORPUS = Path(__file__).resolve().parent / "data" / "identifiers_corpus.tsv"


@dataclass(frozen=True)
class Note:
    names_someone: bool
    language: str
    text: str


def corpus_notes() -> list[Note]:
    notes = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, language, text = line.split("\t")
        assert label in ("name", "work"), line
        notes.append(Note(label == "name", language, text))
    return notes


@dataclass(frozen=True)
class Scores:
    missed: list[Note]  # naming someone, passed
    refused: list[Note]  # about the work, refused
    named: int
    work: int

    @property
    def recall(self) -> float:
        return 1 - len(self.missed) / self.named

    @property
    def false_positive_rate(self) -> float:
        return len(self.refused) / self.work


def corpus_scores() -> Scores:
    """Recall: notes naming someone that are refused for a name. False positives: notes about
    the work refused for anything (a work note must pass whole)."""
    notes = corpus_notes()
    missed = [n for n in notes if n.names_someone and PERSON_NAME not in found(n)]
    refused = [n for n in notes if not n.names_someone and found(n)]
    named = sum(n.names_someone for n in notes)
    return Scores(missed, refused, named, len(notes) - named)


def found(note: Note) -> list[str]:
    return patient_identifier_problems(note.text)
