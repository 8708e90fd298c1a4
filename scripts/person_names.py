"""`make person-names`: core/data/person_names.txt.gz, the first names and surnames that
core.identifiers looks for, derived from the pinned names-dataset package.

Why a derived file rather than the package at run time: names-dataset (philipperemy, 730,000 first
names and 980,000 surnames in 105 countries, ranked per country) loads two pickles of 1.9 GB
resident memory in 6 s. Every Daphne and Celery process checks free text, so each would carry
them. What the check needs is far less: the names people carry in the countries WeScan's patients
come from, as lower-case tokens, about a megabyte on disk and a few tens of thousands of tokens in
memory, read on the first check.

What is kept (the figures are the package's per-country ranks):
- first names ranked within FIRST_RANK in the main countries, FIRST_RANK_OTHER in the countries
  many Belgian, Dutch, French, German and British patients' families come from;
- surnames ranked within LAST_RANK / LAST_RANK_OTHER in the same countries, each word of a
  surname of several words ("De Smet" gives "smet"), particles ("de", "van", "le") left out:
  core.identifiers reads particles in the text itself.

Each token is marked with what it is: F (a first name), S (a surname), or both; and "~" when it is
also an ordinary word in Dutch, French, English or German (hunspell, with Debian's dictionaries,
accepts it in lower case: "roos", "will", "may", "mark", "slots") - such a name needs context
before it counts.

The file's first line records the inputs (names-dataset's version, the dictionaries' package
versions and this script's SHA-256); tests/core/test_person_names.py fails when this script or
the pinned package changed since, so the file cannot silently go stale.

Usage: python scripts/person_names.py [--check]
"""

import argparse
import gzip
import hashlib
import importlib.metadata
import pickle  # the pinned package's own data files, read at build time only
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.names import PARTICLES  # noqa: E402 - "van", "de", "le": read in the text, not kept

OUTPUT = ROOT / "core" / "data" / "person_names.txt.gz"

MAIN_COUNTRIES = ("BE", "NL", "FR", "DE", "GB", "LU", "CH", "AT", "IE")
OTHER_COUNTRIES = ("MA", "TR", "IT", "ES", "PT", "PL", "DZ", "CD", "RO")
FIRST_RANK, FIRST_RANK_OTHER = 5000, 1000
LAST_RANK, LAST_RANK_OTHER = 15000, 3000

# Debian's hunspell dictionaries, read by the hunspell program, which knows each language's
# inflections ("slots", "geen", "mit" are words though only "slot" is a stem).
DICTIONARIES = {
    "nl": "hunspell-nl",
    "fr": "hunspell-fr",
    "en_GB": "hunspell-en-gb",
    "de_DE": "hunspell-de-de",
}


def script_digest() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def debian_version(package: str) -> str:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or "absent"


def header() -> str:
    dictionaries = ",".join(
        f"{pkg}={debian_version(pkg)}" for pkg in ("hunspell", *DICTIONARIES.values())
    )
    return (
        f"# person_names names-dataset={package_version('names-dataset')} {dictionaries} "
        f"script={script_digest()}"
    )


def ordinary_words(tokens: set[str]) -> set[str]:
    """The tokens that, written in lower case, are correct words in one of the four languages
    (a name in lower case is not: "peeters" is refused where "roos" and "will" pass)."""
    ordinary: set[str] = set()
    text = "\n".join(sorted(tokens)) + "\n"
    for dictionary, package in DICTIONARIES.items():
        if debian_version(package) == "absent" or debian_version("hunspell") == "absent":
            sys.exit(f"missing: scripts/system-packages.sh hunspell {package}")
        result = subprocess.run(
            ["hunspell", "-d", dictionary, "-l"],
            input=text,
            capture_output=True,
            text=True,
            check=True,
            env={"LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"},
        )
        ordinary |= tokens - set(result.stdout.split())
    return ordinary


def ranked(path: Path, main_rank: int, other_rank: int) -> set[str]:
    with gzip.open(path, "rb") as data:
        table = pickle.load(data)  # noqa: S301 - see the import
    kept: set[str] = set()
    for name, attributes in table.items():
        ranks = attributes.get("rank") or {}
        if any(ranks.get(c, main_rank + 1) <= main_rank for c in MAIN_COUNTRIES) or any(
            ranks.get(c, other_rank + 1) <= other_rank for c in OTHER_COUNTRIES
        ):
            for word in name.replace("-", " ").split():
                token = word.casefold().strip(".'’")
                if len(token) >= 2 and token.isalpha() and token not in PARTICLES:
                    kept.add(token)
    del table
    return kept


def build() -> str:
    import names_dataset  # the pinned package, a dev dependency

    data = Path(names_dataset.__file__).parent / "v3"
    first = ranked(data / "first_names.pkl.gz", FIRST_RANK, FIRST_RANK_OTHER)
    last = ranked(data / "last_names.pkl.gz", LAST_RANK, LAST_RANK_OTHER)
    words = ordinary_words(first | last)
    lines = [header()]
    for token in sorted(first | last):
        kind = ("F" if token in first else "") + ("S" if token in last else "")
        lines.append(f"{token}\t{kind}{'~' if token in words else ''}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args()
    text = build()
    if args.check:
        current = gzip.decompress(OUTPUT.read_bytes()).decode() if OUTPUT.exists() else ""
        sys.exit(0 if current == text else f"{OUTPUT} is stale: run `make person-names`")
    OUTPUT.parent.mkdir(exist_ok=True)
    # mtime=0: the same inputs give the same bytes, so git sees a change only when there is one.
    OUTPUT.write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))
    print(f"{OUTPUT.relative_to(ROOT)}: {len(text.splitlines()) - 1} names")


if __name__ == "__main__":
    main()
