"""Every text a person reads comes in Dutch and French as well as English: the catalogues are
complete and current, and no template shows text outside the translation tags."""

import re
import shutil
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from tests.template_text import TEMPLATES, templates_under, untranslated_text

LOCALE = Path(settings.LOCALE_PATHS[0])
ROOT = Path(settings.BASE_DIR)
# What holds translatable text: the apps, the templates and the pages' JavaScript.
SOURCES = {"accounts", "cockpit", "core", "marketplace", "operations", "scheduling", "wescan"}
SOURCES |= {"templates", "static", "manage.py"}
TRANSLATED = ["nl", "fr"]
DOMAINS = ["django", "djangojs"]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|%[sdif]|\{(\w*)\}")


def catalogue(language: str, domain: str) -> polib.POFile | None:
    path = LOCALE / language / "LC_MESSAGES" / f"{domain}.po"
    return polib.pofile(str(path)) if path.exists() else None


def _placeholders(text: str) -> list[str]:
    return sorted(match.group(0) for match in PLACEHOLDER.finditer(text))


@pytest.mark.parametrize(
    "template", templates_under(), ids=lambda path: str(path.relative_to(TEMPLATES))
)
def test_template_shows_no_text_outside_translation_tags(template: Path) -> None:
    assert untranslated_text(template) == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated(language: str) -> None:
    problems = []
    for domain in DOMAINS:
        po = catalogue(language, domain)
        if po is None:
            continue
        for entry in po:
            if entry.obsolete:
                continue
            where = f"{domain} {entry.msgid[:70]!r}"
            if "fuzzy" in entry.flags:
                problems.append(f"{where}: marked fuzzy (a guess nobody checked)")
            translations = (
                list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
            )
            if not all(text.strip() for text in translations):
                problems.append(f"{where}: no {language} translation")
                continue
            if entry.msgid_plural:
                continue  # plural forms may drop the number ("one hour" / "%(n)s hours")
            if _placeholders(entry.msgstr) != _placeholders(entry.msgid):
                problems.append(f"{where}: placeholders differ in {language}")
            if len(entry.msgid.split()) >= 3 and entry.msgstr.strip() == entry.msgid.strip():
                problems.append(f"{where}: left in English")
    assert problems == []


def test_the_catalogues_hold_every_message_of_the_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Extracting again finds nothing the committed catalogues lack: a text marked for
    translation but never extracted would go out in English. The extraction runs on a copy of
    the sources (makemessages writes next to whatever `locale` folder it finds)."""
    source = tmp_path / "source"
    for path in ROOT.iterdir():
        if path.name in SOURCES:
            copy = shutil.copytree if path.is_dir() else shutil.copy2
            copy(path, source / path.name)
    fresh = source / "locale"
    for language in TRANSLATED:
        (fresh / language / "LC_MESSAGES").mkdir(parents=True)
    monkeypatch.chdir(source)
    with override_settings(LOCALE_PATHS=[str(fresh)]):
        for domain in DOMAINS:
            call_command("makemessages", locale=TRANSLATED, domain=domain, verbosity=0)
    missing = []
    for language in TRANSLATED:
        for domain in DOMAINS:
            path = fresh / language / "LC_MESSAGES" / f"{domain}.po"
            if not path.exists():
                continue
            committed = catalogue(language, domain)
            known = {(e.msgctxt, e.msgid) for e in committed} if committed else set()
            missing += [
                f"{language} {domain}: {entry.msgid[:70]!r}"
                for entry in polib.pofile(str(path))
                if (entry.msgctxt, entry.msgid) not in known
            ]
    assert missing == [], "run `make messages` and translate what it adds"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalogues_are_current(language: str) -> None:
    """`make install` compiles each catalogue: a .mo older than its .po would serve last
    week's translations."""
    for domain in DOMAINS:
        po = LOCALE / language / "LC_MESSAGES" / f"{domain}.po"
        if po.exists():
            mo = po.with_suffix(".mo")
            assert mo.exists(), f"{mo} is missing: run `make compile-messages`"
            assert mo.stat().st_mtime >= po.stat().st_mtime, (
                f"{mo} is older than its catalogue: run `make compile-messages`"
            )
