"""Text for a CSV that people open in a spreadsheet program."""

import csv
from decimal import Decimal
from typing import Any

from django.utils import formats

# What a spreadsheet reads as the start of a formula (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(text: str) -> str:
    """A text a spreadsheet shows as text: one that starts like a formula (a name someone typed,
    say) is kept from running by a leading apostrophe."""
    return f"'{text}" if text[:1] in FORMULA_STARTS else text


def csv_separator() -> str:
    """The column separator a spreadsheet program expects in the active language: where the
    decimal mark is a comma (nl, fr), as in Belgium, columns are split on ";"."""
    return ";" if formats.get_format("DECIMAL_SEPARATOR") == "," else ","


def spreadsheet_number(value: Decimal | float | int, places: int = 2) -> str:
    """A number as a spreadsheet program in the active language reads it: the language's decimal
    mark, no thousands grouping (a grouping mark would be read as text or as a separator)."""
    text = f"{Decimal(str(value)):.{places}f}" if places else str(int(value))
    return text.replace(".", formats.get_format("DECIMAL_SEPARATOR"))


def csv_writer(stream: Any) -> Any:
    """A csv writer with the active language's separator (`csv_separator`)."""
    return csv.writer(stream, delimiter=csv_separator())
