"""core/data/person_names.txt.gz is what scripts/person_names.py makes from the pinned package:
the file records its inputs, and they must be the ones in the repository now."""

import gzip
import hashlib
import re
from pathlib import Path

from core.names import DATA, FIRST, SURNAME, WORD, person_names

ROOT = Path(__file__).resolve().parents[2]


def _header() -> str:
    return gzip.decompress(DATA.read_bytes()).decode().split("\n", 1)[0]


def test_the_names_file_was_made_by_the_script_as_it_is_now() -> None:
    script = hashlib.sha256((ROOT / "scripts" / "person_names.py").read_bytes()).hexdigest()[:16]
    assert f"script={script}" in _header(), "scripts/person_names.py changed: make person-names"


def test_the_names_file_was_made_from_the_pinned_package() -> None:
    pinned = re.search(r'"names-dataset==([\w.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned, "names-dataset is pinned in pyproject.toml's person-names extra"
    assert f"names-dataset={pinned.group(1)} " in _header(), "the pin changed: make person-names"


def test_the_names_are_the_ones_people_carry_here() -> None:
    names = person_names()
    assert len(names) > 100_000
    for surname in ("janssens", "peeters", "de", "dubois", "müller", "smith", "yilmaz"):
        if surname != "de":  # a particle: read in the text, never a name alone
            assert names[surname] & SURNAME, surname
    assert "de" not in names
    for first in ("jan", "els", "marie", "sophie", "hans", "emma", "mohamed", "fatima"):
        assert names[first] & FIRST, first
    for ordinary in ("will", "may", "mark", "roos", "rose"):
        assert names[ordinary] & WORD, ordinary  # also an ordinary word: needs context
    for plain in ("janssens", "peeters", "vandenbroucke"):
        assert not names[plain] & WORD, plain
