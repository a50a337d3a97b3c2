"""A PDF page's text as a person sees it: lines by position, columns, and what is hidden.

pypdfium2 gives every character with its box, font size and text object. Characters are
grouped into lines by their vertical position and ordered left to right, whatever order the
content stream drew them in; a wide horizontal gap becomes a tab (a column break), so a
label and its value on one row stay on one line and separate columns never merge into one
number. A row of labels directly above a row of values (a giro strip, "Fakturanr Dato
Forfall" / "123 01.02.2026 15.02.2026") is also given as "label value" lines.

Text a person cannot see is kept apart, as evidence: render mode 3 (invisible), a font
under 3 pt, characters outside the page box, and characters that leave no ink on a
rendering of the page (white or background-coloured text, text covered by a box). It is
never read as a field; the extractor turns it into warnings.
"""

from __future__ import annotations

import ctypes
import dataclasses
import re
from collections.abc import Sequence

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

#: Below this font size (pt) text is not meant to be read.
TINY_PT = 3.0
#: Render scale for the ink check (1 = 72 dpi).
INK_SCALE = 1.5
#: A word whose box spans less contrast than this (0–255) left no visible ink.
MIN_CONTRAST = 48
_TABLE_HEADER = re.compile(
    r"(?i)\b(beskrivelse|description|varetekst|vare|antall|qty|quantity|pris|price|tekst|item)\b"
)
#: Column headings of a VAT summary ("MVA-sats Grunnlag MVA Sum"): a table, not labels.
_VAT_TABLE_HEADER = re.compile(r"(?i)(\bmva|\bvat\b|\bmoms\b|grunnlag|\bsats\b|netto|brutto)")
#: Fill colour (each of R, G, B) at or above which text counts as white.
WHITE = 240
#: Invisible render modes (3 = neither fill nor stroke; 7 = clip only).
INVISIBLE_MODES = frozenset({3, 7})


@dataclasses.dataclass(frozen=True)
class Char:
    text: str
    left: float
    bottom: float  # the loose box (font ascent to descent): every glyph of a line alike
    right: float
    top: float
    baseline: float
    size: float
    hidden: str | None  # why a person cannot see it, or None


@dataclasses.dataclass
class Word:
    chars: list[Char]
    after_space: bool  # a space character (not just a gap) separates it from the one before


@dataclasses.dataclass(frozen=True)
class PageText:
    lines: tuple[str, ...]  # visible lines; "\t" between columns
    hidden: tuple[tuple[str, str], ...]  # (why, text) of each hidden line


def _chars(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage) -> list[Char]:
    raw = textpage.raw
    count = pdfium_c.FPDFText_CountChars(raw)
    box = page.get_bbox()  # the visible page: media box ∩ crop box, inherited ones too
    rect = pdfium_c.FS_RECTF()
    ox, oy = ctypes.c_double(), ctypes.c_double()
    cr, cg, cb, ca = ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint()
    out: list[Char] = []
    for i in range(count):
        code = pdfium_c.FPDFText_GetUnicode(raw, i)
        if code in (0, 0xFFFE) or pdfium_c.FPDFText_IsGenerated(raw, i) == 1:
            continue
        ch = chr(code)
        if ch in "\r\n":
            continue
        pdfium_c.FPDFText_GetLooseCharBox(raw, i, rect)
        pdfium_c.FPDFText_GetCharOrigin(raw, i, ox, oy)
        left, top, right, bottom = rect.left, rect.top, rect.right, rect.bottom
        size = pdfium_c.FPDFText_GetFontSize(raw, i)
        hidden: str | None = None
        obj = pdfium_c.FPDFText_GetTextObject(raw, i)
        mode = pdfium_c.FPDFTextObj_GetTextRenderMode(obj) if obj else 0
        if mode in INVISIBLE_MODES:
            hidden = "invisible text (render mode 3)"
        elif (
            mode == 0
            and pdfium_c.FPDFText_GetFillColor(raw, i, cr, cg, cb, ca)
            and min(cr.value, cg.value, cb.value) >= WHITE
            and not ch.isspace()
        ):
            hidden = "white text"
        elif 0 < size < TINY_PT:
            hidden = f"tiny text ({size:.1f} pt)"
        elif (
            right < box[0] or left > box[2] or top < box[1] or bottom > box[3]
        ) and not ch.isspace():
            hidden = "text outside the page"
        out.append(Char(ch, left, bottom, right, top, oy.value, size, hidden))
    return out


def _mark_inkless(page: pdfium.PdfPage, words: list[Word]) -> None:
    """Words that leave no ink on a rendering (white on white, covered) become hidden."""
    if not words:
        return
    # The characters' boxes are in the page's own (unrotated) space; a page with /Rotate
    # is rendered turned unless the rendering turns it back.
    bitmap = page.render(
        scale=INK_SCALE, grayscale=True, rotation=(360 - page.get_rotation()) % 360
    )
    image = np.asarray(bitmap.to_pil().convert("L"), dtype=np.int16)
    height, width = image.shape
    page_left, _, _, page_top = page.get_bbox()
    why = "text with no visible ink (same colour as the background, or covered)"
    for word in words:
        chars = word.chars
        if any(c.hidden for c in chars):
            continue
        x0 = max(int((min(c.left for c in chars) - page_left) * INK_SCALE), 0)
        x1 = min(int((max(c.right for c in chars) - page_left) * INK_SCALE) + 1, width)
        y0 = max(int((page_top - max(c.top for c in chars)) * INK_SCALE), 0)
        y1 = min(int((page_top - min(c.bottom for c in chars)) * INK_SCALE) + 1, height)
        if x1 <= x0 or y1 <= y0:
            continue
        patch = image[y0:y1, x0:x1]
        if int(patch.max()) - int(patch.min()) < MIN_CONTRAST:
            word.chars = [dataclasses.replace(c, hidden=why) for c in chars]


def _words(chars: Sequence[Char]) -> list[Word]:
    """Runs of characters in content order, split at spaces, gaps and jumps."""
    words: list[Word] = []
    current: list[Char] = []
    spaced = False
    for c in chars:
        if c.text.isspace():
            if current:
                words.append(Word(current, spaced))
                current = []
            spaced = True
            continue
        if current:
            p = current[-1]
            jump = c.left < p.left - 1 or abs(c.baseline - p.baseline) > max(p.size, 1) * 0.3
            if jump or c.left - p.right > max(p.size, 1) * 0.15 or (c.hidden != p.hidden):
                words.append(Word(current, spaced))
                current, spaced = [], False
        current.append(c)
    if current:
        words.append(Word(current, spaced))
    return words


def _rows(words: list[Word]) -> list[list[Word]]:
    """Words grouped into rows by baseline (top of the page first), left to right."""
    ordered = sorted(words, key=lambda w: (-w.chars[0].baseline, w.chars[0].left))
    rows: list[list[Word]] = []
    anchors: list[tuple[float, float]] = []
    for w in ordered:
        base, size = w.chars[0].baseline, max(max(c.size for c in w.chars), 1.0)
        if rows and abs(anchors[-1][0] - base) < max(min(anchors[-1][1], size) * 0.35, 1.0):
            rows[-1].append(w)
        else:
            rows.append([w])
            anchors.append((base, size))
    return [sorted(r, key=lambda w: w.chars[0].left) for r in rows]


def _segments(row: list[Word]) -> list[tuple[float, float, str]]:
    """A row as column segments (x0, x1, text): words of running text joined by a space,
    a new segment where a gap has no space character or is wider than two spaces."""
    segments: list[tuple[float, float, str]] = []
    for w in row:
        text = "".join(c.text for c in w.chars)
        x0, x1 = w.chars[0].left, max(c.right for c in w.chars)
        size = max(max(c.size for c in w.chars), 4.0)
        gap = x0 - segments[-1][1] if segments else 0.0
        if segments and gap < size * (1.0 if w.after_space else 0.15):
            s0, _, stext = segments[-1]
            segments[-1] = (s0, x1, stext + (" " if gap > size * 0.1 else "") + text)
        else:
            segments.append((x0, x1, text))
    return segments


def _has_digit(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


#: A rate in a label ("Mva 25 %"): a one-rate summary strip names it in its heading.
_RATE_IN_LABEL = re.compile(r"\d{1,2}(?:[.,]\d{1,2})?\s*%")


#: A heading that names the document's total ("TOTALT | MVA | NETTO"): a VAT table's
#: heading names a sum per rate ("Sum", "Brutto") instead.
_TOTAL_HEADING = re.compile(r"(?i)\b(totalt|total|totalbeløp|å betale|to pay|amount due)\b")
#: A cell that is a sum and nothing else ("548,00", "kr 109,60", "NOK 1 234,50").
_SUM_CELL = re.compile(r"(?i)(?:kr\.?|nok)?\s*-?\d{1,3}(?:[ .]?\d{3})*[.,]\d{2}(?:\s*(?:kr|nok))?")


def _labels(cells: Sequence[str], values: Sequence[str] = ()) -> bool:
    """Whether a row's cells are labels for the values under them: no figures but a rate,
    not an item table's header, and not a VAT table's header (one row per rate follows)
    unless a label names the one rate ("Grunnlag | Mva 25 % | Totalt" over three sums), or
    it names the total and the row under it is sums without a rate ("TOTALT | MVA | NETTO"
    over "548,00 | 109,60 | 438,40": a VAT table's rows each name their rate)."""
    if len(cells) < 2 or any(_has_digit(_RATE_IN_LABEL.sub("", t)) for t in cells):
        return False
    if any(_TABLE_HEADER.search(t) for t in cells):
        return False
    one_rate = sum(bool(_RATE_IN_LABEL.search(t)) for t in cells) == 1
    if one_rate or not any(_VAT_TABLE_HEADER.search(t) for t in cells):
        return True
    return (
        len(values) == len(cells)
        and not any(_RATE_IN_LABEL.search(t) for t in cells)
        and any(_TOTAL_HEADING.search(t) for t in cells)
        and all(_SUM_CELL.fullmatch(v.strip()) for v in values)
    )


def _label_rows(
    previous: list[tuple[float, float, str]], current: list[tuple[float, float, str]]
) -> list[str]:
    """A row of labels over a row of values, matched by horizontal overlap."""
    if not _labels([t for _, _, t in previous], [t for _, _, t in current]):
        return []
    if not any(_has_digit(t) for _, _, t in current):
        return []
    pairs: list[str] = []
    for x0, x1, label in previous:
        best = None
        for v0, v1, value in current:
            overlap = min(x1, v1) - max(x0, v0)
            near = abs(v0 - x0) < 6 or abs(v1 - x1) < 6
            if overlap > 0 or near:
                best = value
                break
        if best is not None:
            pairs.append(f"{label} {best}")
    return pairs if len(pairs) >= 2 else []


def page_text(page: pdfium.PdfPage) -> PageText:
    textpage = page.get_textpage()
    try:
        chars = _chars(page, textpage)
    finally:
        textpage.close()
    words = _words(chars)
    _mark_inkless(page, words)
    visible = [w for w in words if not any(c.hidden for c in w.chars)]
    hidden = [w for w in words if any(c.hidden for c in w.chars)]
    lines: list[str] = []
    previous: list[tuple[float, float, str]] = []
    for row in _rows(visible):
        segments = _segments(row)
        lines.append("\t".join(t for _, _, t in segments))
        lines.extend(_label_rows(previous, segments))
        previous = segments
    hidden_lines: list[tuple[str, str]] = []
    for row in _rows(hidden):
        why = next(c.hidden for w in row for c in w.chars if c.hidden)
        text = " ".join(t for _, _, t in _segments(row))
        hidden_lines.append((why, text))
    return PageText(lines=tuple(lines), hidden=tuple(hidden_lines))


def pair_label_rows(text: str) -> str:
    """The same label-over-value pairing for text that has no positions, only column breaks
    ("\t", as OCR gives): a row of labels followed by a row with as many cells, one value
    under each label, also gives "label value" lines. An item or VAT table's header does not."""
    lines = text.splitlines()
    out: list[str] = []
    previous: list[str] = []
    for line in lines:
        cells = [c.strip() for c in line.split("\t") if c.strip()]
        out.append(line)
        if (
            len(cells) == len(previous)
            and _labels(previous, cells)
            and any(_has_digit(c) for c in cells)
        ):
            out.extend(f"{label} {value}" for label, value in zip(previous, cells, strict=True))
        previous = cells
    return "\n".join(out)
