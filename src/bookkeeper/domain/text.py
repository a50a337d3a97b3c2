"""Text a person is meant to read: a name, a description, a reason (ADR 0049, round three).

A merchant called U+200B (a zero-width space), "\\u00a0" (a no-break space) or "\\ufeff"
passes `str.strip()` or looks like nothing on every page, report and voucher: it names no
one. `has_visible` says whether a text holds anything a reader sees; `control_in` finds a
control character (a BEL, an ESC that steers a terminal, a DEL), which no name holds and
free text only as a line break or a tab; `tidy` gives a text its one spelling (Unicode NFC,
so "é" typed as e + U+0301 is the "é" of every other document) without the invisible
characters at its ends. Characters inside a text are kept: a zero-width joiner builds an
emoji, a no-break space belongs between "AS" and a number.
"""

from __future__ import annotations

import unicodedata
from typing import Final

#: Categories of characters that show nothing: controls, format characters (zero-width
#: space, joiners, word joiner, BOM, bidi marks, soft hyphen), separators (spaces, line
#: and paragraph separators), lone surrogates. Unassigned and private-use code points are
#: not among them: a newer Unicode, or a font, may draw them.
_UNSEEN_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Cs"})
#: Letters and symbols that are drawn as blank: Hangul fillers, the braille blank, the
#: combining grapheme joiner, Mongolian and Khmer vowel carriers shown as nothing.
_BLANK: Final = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5\u180e")
#: Tag characters end an emoji flag ("🏴" + tags + cancel tag: Scotland's): kept at the end.
_TAG: Final = "\U000e0020"
_CANCEL_TAG: Final = "\U000e007f"
#: Control characters that free text may hold: a line break, a tab.
_BREAKS: Final = frozenset("\t\n\r")
#: How far back from a limit `shorten` looks for a space before it cuts inside a word.
_WORD_ROOM: Final = 30
#: The bidi embeddings, overrides (U+202A–U+202E) and isolates (U+2066–U+2069): they
#: reorder what follows them, so "Faktura \u202e0001-F" reads "Faktura F-1000" on a page, a
#: report or an audit line while the books hold another text ("Trojan Source"). No name or
#: description needs them; the marks U+200E/U+200F (which reorder nothing) are kept.
STEERING: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def unseen(ch: str) -> bool:
    """Whether the character shows nothing by itself."""
    return ch in _BLANK or unicodedata.category(ch) in _UNSEEN_CATEGORIES


def has_visible(text: str) -> bool:
    """Whether `text` holds at least one character a reader sees."""
    if text.isascii():
        return any(" " < ch < "\x7f" for ch in text)
    return not all(unseen(ch) for ch in text)


def control_in(text: str, *, breaks: bool = False) -> str | None:
    """The first control character of `text` (C0, DEL, C1), or None; with `breaks`, a tab,
    a line feed and a carriage return are allowed (free text over several lines)."""
    if text.isprintable():
        return None
    for ch in text:
        if unicodedata.category(ch) == "Cc" and not (breaks and ch in _BREAKS):
            return ch
    return None


def steering_in(text: str) -> str | None:
    """The first bidi embedding, override or isolate character of `text` (`STEERING`), or
    None (ADR 0049, round four)."""
    if text.isprintable():  # every one of them is a format character (Cf), not printable
        return None
    for ch in text:
        if ch in STEERING:
            return ch
    return None


def unfit_in(text: str, *, breaks: bool = False) -> str | None:
    """Why `text` cannot stand in the books as it is — "control characters" or "bidi
    override characters" — or None (`breaks` as for `control_in`)."""
    if text.isprintable():
        return None
    if control_in(text, breaks=breaks) is not None:
        return "control characters"
    if steering_in(text) is not None:
        return "bidi override characters (U+202A-U+202E, U+2066-U+2069)"
    return None


def tidy(text: str) -> str:
    """`text` in Unicode NFC without the invisible characters at its ends."""
    if text.isascii():
        return text.strip()
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    start, end = 0, len(text)
    while start < end and unseen(text[start]):
        start += 1
    while end > start and unseen(text[end - 1]) and not _TAG <= text[end - 1] <= _CANCEL_TAG:
        end -= 1
    return text[start:end]


def shorten(text: str, limit: int) -> str:
    """`text` with its whitespace collapsed, within `limit` characters: a longer one is
    cut after its last whole word that leaves room for "…" and ends in it (inside a word
    only when no space is near the limit: one long word). The same text always gives the
    same result, so a name sent cut can be looked up again by the same cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    if limit < 2:
        return text[:limit]
    room = limit - 1  # for the ellipsis
    space = text.rfind(" ", 0, room + 1)
    kept = text[:space] if space >= max(1, room - _WORD_ROOM) else text[:room]
    return (kept.rstrip(" ,;:.-–") or text[:room].rstrip()) + "…"
