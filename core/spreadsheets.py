"""Text for a CSV that people open in a spreadsheet program."""

# What a spreadsheet reads as the start of a formula (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(text: str) -> str:
    """A text a spreadsheet shows as text: one that starts like a formula (a name someone typed,
    say) is kept from running by a leading apostrophe."""
    return f"'{text}" if text[:1] in FORMULA_STARTS else text
