"""Text for a CSV that people open in a spreadsheet program, and how its columns and numbers
are written: as a spreadsheet program in the reader's language expects, unless the download
asks for a separator (`?separator=semicolon|comma`)."""

from django.utils import formats
from django.utils.translation import get_language

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


# The separators a download may ask for by name, overriding the language's.
SEPARATORS = {"semicolon": ";", "comma": ","}
# The decimal mark a spreadsheet program expecting each separator reads: ";" goes with a decimal
# comma (Dutch and French, as in Belgium), "," with a decimal point (English).
DECIMAL_MARKS = {";": ",", ",": "."}
# What a Dutch or French file opens with: without it Excel on a Belgian Windows machine reads the
# UTF-8 file in its own code page ("Heures publiÃ©es").
BYTE_ORDER_MARK = "\ufeff"


def csv_dialect(separator: str | None = None) -> tuple[str, str]:
    """(column separator, decimal mark): `separator` ("," or ";") with the mark read beside it,
    else the active language's. Numbers are written with the mark and no grouping (a grouping
    mark would be read as text or as a separator)."""
    if separator not in DECIMAL_MARKS:
        separator = csv_separator()
    return separator, DECIMAL_MARKS[separator]


def csv_opening() -> str:
    """What a file opens with: the byte order mark in Dutch and French, else nothing."""
    return BYTE_ORDER_MARK if (get_language() or "")[:2] in ("nl", "fr") else ""
