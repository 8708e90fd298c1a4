"""How long does the patient-identifier check take on the longest hostile text a request can
carry, and is it linear in the text's length?

Set-up: no database, no server; `core.identifiers.patient_identifier_problems` in-process on
texts built to make a backtracking pattern rescan each run (letters, digits, digits and spaces,
zeros and spaces, plus signs, dotted words, at signs, a long dotted domain, day-month pairs) at
20,000 and 200,000 characters. Each text is checked 5 times; the median counts, the worst text
is reported.

Figures:
- identifiers.check_200k_ms: the slowest hostile text of 200,000 characters (target <= 50 ms;
  the old backtracking patterns took about 80 s on the run of letters);
- identifiers.growth_10x: that time over the same at 20,000 characters (linear: about 10; a
  quadratic check gives about 100).
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wescan.settings.local")

from bench.common import figure, machine
from core.identifiers import patient_identifier_problems

UNITS = {
    "letters": "a",
    "digits": "1",
    "digits and spaces": "1 ",
    "zeros and spaces": "00 ",
    "plus signs": "+1 ",
    "dotted": "a.",
    "at signs": "a@",
    "months": "1 jan ",
}


def hostile(size: int) -> dict[str, str]:
    texts = {name: (unit * (size // len(unit) + 1))[:size] for name, unit in UNITS.items()}
    texts["dotted domain"] = ("x@" + "a." * size)[:size]
    return texts


def slowest_ms(size: int) -> tuple[str, float]:
    timings = {}
    for name, text in hostile(size).items():
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            patient_identifier_problems(text)
            runs.append((time.perf_counter() - started) * 1000)
        timings[name] = statistics.median(runs)
    name = max(timings, key=lambda n: timings[n])
    return name, timings[name]


def main() -> None:
    print(
        f"identifiers: {len(UNITS) + 1} hostile texts at 20,000 and 200,000 characters; {machine()}"
    )
    _, small = slowest_ms(20_000)
    name, large = slowest_ms(200_000)
    print(f"identifiers: slowest at 200,000 characters: {name}")
    figure("identifiers.check_200k_ms", f"{large:.2f}", "ms", "<= 50", missed=large > 50)
    growth = large / small if small else 0.0
    figure("identifiers.growth_10x", f"{growth:.1f}", "x", "<= 20", missed=growth > 20)


if __name__ == "__main__":
    main()
