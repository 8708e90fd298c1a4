"""How well does the patient-identifier check find people's names, how often does it refuse a
note about the work, how long does it take on the longest hostile text a request can carry, and
is it linear in the text's length?

Set-up: no database, no server; `core.identifiers.patient_identifier_problems` in-process.
- Quality: the 448 hand-written notes of tests/core/data/identifiers_corpus.tsv (half naming a
  patient, half about the work; Dutch, French, English, German).
- Time: texts built to make a backtracking pattern rescan each run (letters, digits, digits and
  spaces, zeros and spaces, plus signs, dotted words, at signs, a long dotted domain, day-month
  pairs) and to make the name check work on every word (a first name and surname repeated, an
  honorific before every word, names in lower case), at 20,000 and 200,000 characters. Each text
  is checked 5 times; the median counts, the worst text is reported.
- Memory: the names are read on the first check; the process's resident memory before and after.

Figures:
- identifiers.name_recall: the share of notes naming a patient that are refused for a name
  (target >= 0.95);
- identifiers.false_positive_rate: the share of work notes refused for anything (target <= 0.02);
- identifiers.names_load_ms, identifiers.names_rss_mb: the first check's reading of the names,
  and the memory they hold in every process (targets <= 500 ms, <= 40 MB);
- identifiers.check_200k_ms: the slowest hostile text of 200,000 characters (target <= 50 ms;
  the old backtracking patterns took about 80 s on the run of letters);
- identifiers.growth_10x: that time over the same at 20,000 characters (linear: about 10; a
  quadratic check gives about 100).
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wescan.settings.local")

import django

# The check's refusals are lazy translations (issue 19), which need the app registry.
django.setup()

from bench.common import figure, machine  # noqa: E402
from core.identifiers import patient_identifier_problems  # noqa: E402
from core.names import person_names  # noqa: E402
from tests.core.corpus import corpus_scores  # noqa: E402

UNITS = {
    "letters": "a",
    "digits": "1",
    "digits and spaces": "1 ",
    "zeros and spaces": "00 ",
    "plus signs": "+1 ",
    "dotted": "a.",
    "at signs": "a@",
    "months": "1 jan ",
    "full names": "Jan Janssens ",
    "honorifics": "Mevrouw ",
    "lower-case names": "jan de smet ",
}


def hostile(size: int) -> dict[str, str]:
    texts = {name: (unit * (size // len(unit) + 1))[:size] for name, unit in UNITS.items()}
    texts["dotted domain"] = ("x@" + "a." * size)[:size]
    return texts


def timings_ms(size: int) -> dict[str, float]:
    """Each hostile text's check, the best of seven: the cost of the work, with as little of
    the machine's other load in it as a measure can have."""
    timings = {}
    for name, text in hostile(size).items():
        runs = []
        for _ in range(7):
            started = time.perf_counter()
            patient_identifier_problems(text)
            runs.append((time.perf_counter() - started) * 1000)
        timings[name] = min(runs)
    return timings


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def names_loaded() -> None:
    before = resident_mb()
    started = time.perf_counter()
    person_names()
    took = (time.perf_counter() - started) * 1000
    held = resident_mb() - before
    print(f"identifiers: {len(person_names()):,} names read on the first check")
    figure("identifiers.names_load_ms", f"{took:.0f}", "ms", "<= 500", missed=took > 500)
    figure("identifiers.names_rss_mb", f"{held:.1f}", "MB", "<= 40", missed=held > 40)


def quality() -> None:
    scores = corpus_scores()
    print(f"identifiers: corpus of {scores.named} notes naming a patient, {scores.work} about work")
    recall, fpr = scores.recall, scores.false_positive_rate
    figure("identifiers.name_recall", f"{recall:.3f}", "ratio", ">= 0.95", missed=recall < 0.95)
    figure("identifiers.false_positive_rate", f"{fpr:.3f}", "ratio", "<= 0.02", missed=fpr > 0.02)


def main() -> None:
    names_loaded()
    quality()
    print(
        f"identifiers: {len(UNITS) + 1} hostile texts at 20,000 and 200,000 characters; {machine()}"
    )
    small = timings_ms(20_000)
    large = timings_ms(200_000)
    name = max(large, key=lambda n: large[n])
    print(f"identifiers: slowest at 200,000 characters: {name}")
    slowest = large[name]
    figure("identifiers.check_200k_ms", f"{slowest:.2f}", "ms", "<= 50", missed=slowest > 50)
    # Text by text: ten times the text, about ten times the work.
    growth = max(large[n] / small[n] for n in large if small[n] > 0)
    figure("identifiers.growth_10x", f"{growth:.1f}", "x", "<= 20", missed=growth > 20)


if __name__ == "__main__":
    main()
