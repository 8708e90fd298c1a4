"""Django's makemessages with WeScan's defaults, so that every extraction writes the same file:

- no fuzzy matching: a new message starts untranslated (the catalogue test then names it),
  never with a guess from a similar one that would ship unseen;
- locations by file only: line numbers would change the catalogue on every edit;
- only the product's own code: not the tests, the benchmarks or vendored files."""

from typing import Any

from django.core.management.commands import makemessages

IGNORED = [
    "tests/*",
    "bench/*",
    "staticfiles/*",
    "test-artifacts/*",
    "node_modules/*",
    "*.egg-info/*",
    "locale/*",
]


class Command(makemessages.Command):
    msgmerge_options = [*makemessages.Command.msgmerge_options, "--no-fuzzy-matching"]

    def handle(self, *args: Any, **options: Any) -> None:
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *IGNORED]
        if options.get("add_location") is None:
            options["add_location"] = "file"
        options["no_obsolete"] = True
        super().handle(*args, **options)
