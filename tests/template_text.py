"""What a template would show untranslated: visible text, and the attributes people read (a
title, a placeholder, a screen reader's label, a confirmation question), outside Django's
translation tags.

Run on a folder or file to see what is left:  python -m tests.template_text templates/marketplace
"""

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# A word: two letters or more. Digits, punctuation, arrows and symbols are the same in every
# language; so is the product's name.
WORD = re.compile(r"[^\W\d_]{2,}")
NOT_WORDS = {"WeScan"}
# Attributes a person reads or hears.
READ_ATTRIBUTES = {
    "title",
    "alt",
    "placeholder",
    "aria-label",
    "aria-description",
    "aria-roledescription",
    "aria-valuetext",
    "data-confirm",
    "label",
}
BUTTON_INPUTS = {"submit", "button", "reset"}
# Content that is the same in every language: code, a value to copy, or marked translate="no".
LITERAL_ELEMENTS = {"code", "kbd", "samp", "pre", "script", "style", "svg"}
VOID_ELEMENTS = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip

_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_COMMENT_BLOCK = re.compile(r"\{%\s*comment\b.*?%\}.*?\{%\s*endcomment\s*%\}", re.S)
_BLOCK_TRANSLATE = re.compile(
    r"\{%\s*block(?:trans|translate)\b.*?%\}.*?\{%\s*endblock(?:trans|translate)\s*%\}", re.S
)
_TAG = re.compile(r"\{%.*?%\}", re.S)
_VARIABLE = re.compile(r"\{\{.*?\}\}", re.S)


def untranslated_source(source: str) -> str:
    """The template with comments, translation tags, other tags and variables taken out: what
    is left is written in the template itself."""
    for pattern in (_COMMENT, _COMMENT_BLOCK, _BLOCK_TRANSLATE, _TAG, _VARIABLE):
        source = pattern.sub(" ", source)
    return source


def _words(text: str) -> list[str]:
    return [word for word in WORD.findall(text) if word not in NOT_WORDS]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []
        self.found: list[str] = []

    def _literal(self) -> bool:
        return any(literal for _tag, literal in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        literal = tag in LITERAL_ELEMENTS or values.get("translate") == "no"
        if not (literal or self._literal()):
            for name, value in attrs:
                read = name in READ_ATTRIBUTES or (
                    name == "value" and tag == "input" and values.get("type") in BUTTON_INPUTS
                )
                if read and value and _words(value):
                    self.found.append(f'<{tag} {name}="{value.strip()}">')
        if tag not in VOID_ELEMENTS:
            self.stack.append((tag, literal))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_ELEMENTS:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                break

    def handle_data(self, data: str) -> None:
        if not self._literal() and _words(data):
            self.found.append(" ".join(data.split()))


def untranslated_text(path: Path) -> list[str]:
    """The pieces of visible text in the template at `path` that no translation tag covers."""
    source = untranslated_source(path.read_text(encoding="utf-8"))
    if path.suffix == ".txt":  # a plain-text mail or message: all of it is read
        return [" ".join(line.split()) for line in source.splitlines() if _words(line)]
    reader = _Reader()
    reader.feed(source)
    reader.close()
    return reader.found


def templates_under(root: Path = TEMPLATES) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(path for path in root.rglob("*") if path.suffix in {".html", ".txt"})


if __name__ == "__main__":
    roots = [Path(arg).resolve() for arg in sys.argv[1:]] or [TEMPLATES]
    left = 0
    for root in roots:
        for path in templates_under(root):
            for text in untranslated_text(path):
                left += 1
                print(f"{path.relative_to(TEMPLATES.parent)}: {text}")
    print(f"{left} untranslated piece(s)")
    sys.exit(1 if left else 0)
